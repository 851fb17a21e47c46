import { DebugEvents, Events, NatsConnection } from 'nats';
import { distinctUntilChanged, Observable, Subject } from 'rxjs';

/**
 * Connection state changes. "reconnected" means messages may have been missed while
 * disconnected: a consumer of events should resync (the resolver reloads its snapshot).
 */
export type BusStatus = 'disconnected' | 'reconnecting' | 'reconnected' | 'closed';

/** Turns nats.js's status iterator into an observable of the changes above (hot, no replay). */
export function watchStatus(nc: NatsConnection): Observable<BusStatus> {
  const subject = new Subject<BusStatus>();
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) subject.next('disconnected');
      else if (s.type === DebugEvents.Reconnecting) subject.next('reconnecting');
      else if (s.type === Events.Reconnect) subject.next('reconnected');
    }
  })();
  void nc.closed().then(() => {
    subject.next('closed');
    subject.complete();
  });
  return subject.pipe(distinctUntilChanged());
}
