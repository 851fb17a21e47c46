import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { installPropagationDefaults } from './defaults';

/**
 * Test-only: records every ended span in memory so tests can assert names, kinds and
 * parent/child relations. Import from 'libs/telemetry/src/testing' (not part of the public API).
 */
export interface TestTracing {
  readonly exporter: InMemorySpanExporter;
  spans(): ReadableSpan[];
  /** Resolves with the first ended span matching `predicate`, polling until `timeoutMs`. */
  waitForSpan(predicate: (span: ReadableSpan) => boolean, timeoutMs?: number): Promise<ReadableSpan>;
  reset(): void;
  /** Unregisters the provider; call in afterAll. */
  shutdown(): Promise<void>;
}

export function installTestTracing(): TestTracing {
  installPropagationDefaults();
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.disable();
  trace.setGlobalTracerProvider(provider);
  const spans = () => exporter.getFinishedSpans();
  return {
    exporter,
    spans,
    async waitForSpan(predicate, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = spans().find(predicate);
        if (found) return found;
        if (Date.now() > deadline) {
          throw new Error(`no matching span within ${timeoutMs} ms; ended: ${spans().map((s) => s.name).join(', ') || 'none'}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    reset: () => exporter.reset(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
    },
  };
}
