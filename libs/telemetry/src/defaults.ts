import { context, createContextKey, propagation, ROOT_CONTEXT } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { AsyncLocalContextManager } from './context-manager';

// W3C propagation and an async context manager are needed for trace context to cross NATS even
// when the SDK is off (or a test provider is in use). They are installed only where the global
// slot is empty, and removed again before the NodeSDK registers its own, so the two never fight.

const owned = { propagator: false, contextManager: false };
let ready = false;
const PROBE = createContextKey('wgmesh.telemetry.probe');

export function installPropagationDefaults(): void {
  if (ready) return;
  if (propagation.fields().length === 0 && !propagatorsOffByEnv()) {
    owned.propagator = propagation.setGlobalPropagator(
      new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
    );
  }
  if (!contextManagerWorks()) {
    owned.contextManager = context.setGlobalContextManager(new AsyncLocalContextManager());
  }
  ready = true;
}

/** Removes what installPropagationDefaults registered (before the NodeSDK registers its own). */
export function releasePropagationDefaults(): void {
  if (owned.propagator) propagation.disable();
  if (owned.contextManager) context.disable();
  owned.propagator = false;
  owned.contextManager = false;
  ready = false;
}

/** Unregisters the global propagator and context manager, whoever installed them. */
export function resetPropagation(): void {
  propagation.disable();
  context.disable();
  owned.propagator = false;
  owned.contextManager = false;
  ready = false;
}

function contextManagerWorks(): boolean {
  return context.with(ROOT_CONTEXT.setValue(PROBE, true), () => context.active().getValue(PROBE) === true);
}

function propagatorsOffByEnv(): boolean {
  return (process.env.OTEL_PROPAGATORS ?? '').split(',').map((s) => s.trim()).includes('none');
}
