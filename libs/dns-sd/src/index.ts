export { PeerIndex, type AddressMatch } from './peer-index';
export { DnsResponder, type DnsResponderOptions, type DnsStats, type Transport } from './responder';
export { compileZones, DnsSdConfigError, WGSD_SOA, type SelfRecord, type SoaOptions, type Zone, type ZoneOptions } from './zone';
export { answer, type AnswerContext } from './answer';
export { encodeResponse, type ResponseMessage } from './encode';
export { parseQuery, type Edns, type ParsedQuery, type QueryProblem, type Question } from './query';
export type { AddressRecord, Answer, PtrRecord, ResourceRecord, SoaRecord, SrvRecord, TxtRecord } from './records';
export type { PeerEntry } from './peer-entry';
export { CLASS_IN, Rcode, RrType } from './codes';
