/** Error bodies shaped exactly like the API's: `param` and `code` are always present, possibly null. */
import type { SimulatedReply } from './types.js';

export interface ApiErrorInfo {
  status: number;
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

export function errorBody(e: Pick<ApiErrorInfo, 'message' | 'type' | 'param' | 'code'>): {
  error: { message: string; type: string; param: string | null; code: string | null };
} {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

export function errorReply(e: ApiErrorInfo, headers: Record<string, string> = {}): SimulatedReply {
  return { status: e.status, headers, body: errorBody(e) };
}

export function invalidRequest(message: string, param: string | null, code: string | null): ApiErrorInfo {
  return { status: 400, message, type: 'invalid_request_error', param, code };
}

export const PARSE_ERROR_MESSAGE =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library " +
  'correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble ' +
  'figuring out how to fix this, please contact us through our help center at help.openai.com.)';

export const MISSING_KEY_MESSAGE =
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth " +
  '(i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from https://platform.openai.com/account/api-keys.';

export function redactKey(key: string): string {
  return key.length > 8 ? `${key.slice(0, 3)}${'*'.repeat(Math.min(20, key.length - 7))}${key.slice(-4)}` : '***';
}

export function unauthorized(presentedKey: string | undefined): ApiErrorInfo {
  const message =
    presentedKey === undefined
      ? MISSING_KEY_MESSAGE
      : `Incorrect API key provided: ${redactKey(presentedKey)}. You can find your API key at https://platform.openai.com/account/api-keys.`;
  return { status: 401, message, type: 'invalid_request_error', param: null, code: 'invalid_api_key' };
}

/** Paths the API serves under /v1: a request to one of them without the prefix gets a hint. */
const V1_ROUTES = [/^\/chat\/completions$/, /^\/models(\/.*)?$/, /^\/completions$/, /^\/embeddings$/, /^\/responses$/];

export function invalidUrl(method: string, path: string): ApiErrorInfo {
  // The API's own text is `Invalid URL (POST /chat/completions)`; a base URL missing its /v1 is by far the most
  // common cause with OpenAI-compatible servers, so the simulator says so.
  const hint = !path.startsWith('/v1/') && V1_ROUTES.some((r) => r.test(path))
    ? ` The path has no /v1: did you mean ${method} /v1${path}? Add /v1 to the end of the base URL (OPENAI_BASE_URL or provider.base_url).`
    : '';
  return { status: 404, message: `Invalid URL (${method} ${path})${hint}`, type: 'invalid_request_error', param: null, code: null };
}

export function modelNotFound(model: string, forChat: boolean): ApiErrorInfo {
  return forChat
    ? {
        status: 404,
        message: `The model \`${model}\` does not exist or you do not have access to it.`,
        type: 'invalid_request_error',
        param: null,
        code: 'model_not_found',
      }
    : { status: 404, message: `The model '${model}' does not exist`, type: 'invalid_request_error', param: 'model', code: 'model_not_found' };
}
