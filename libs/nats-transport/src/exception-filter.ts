import { ArgumentsHost, Catch, RpcExceptionFilter } from '@nestjs/common';
import { Observable, throwError } from 'rxjs';

/**
 * Hands a handler's error to MeshNatsServer unchanged, so a `ContractError` is answered with
 * code "invalid_request" and its message. Nest's default filter would replace every error with
 * "Internal server error" before the transport sees it.
 *
 * Register it for the microservice only: `@UseFilters(MeshExceptionFilter)` on a controller or
 * `microservice.useGlobalFilters(new MeshExceptionFilter())`; not as APP_FILTER in a hybrid HTTP app.
 */
@Catch()
export class MeshExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}
