// libs/nat-probe: the STUN server, NAT classification and path decisions.
export * from './decide';
