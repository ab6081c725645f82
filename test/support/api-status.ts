/** The fake API server's failures: metav1.Status bodies, as kube-apiserver writes them. */
export type JsonObject = Record<string, unknown>;

export interface Resource {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export function apiVersionOf(resource: Resource): string {
  return resource.group === '' ? resource.version : `${resource.group}/${resource.version}`;
}

export function qualifiedResource(resource: Resource): string {
  return resource.group === '' ? resource.plural : `${resource.plural}.${resource.group}`;
}

export interface StatusFailure {
  code: number;
  reason: string;
  message: string;
  details?: JsonObject;
}

export class ApiError extends Error {
  readonly failure: StatusFailure;

  constructor(failure: StatusFailure) {
    super(failure.message);
    this.failure = failure;
  }
}

export function statusJson(failure: StatusFailure): string {
  const { code, reason, message, details } = failure;
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    details,
    code,
  });
}

export const UNAUTHORIZED: StatusFailure = { code: 401, reason: 'Unauthorized', message: 'Unauthorized' };
export const PATH_NOT_FOUND: StatusFailure = {
  code: 404,
  reason: 'NotFound',
  message: 'the server could not find the requested resource',
  details: {},
};
export const METHOD_NOT_ALLOWED: StatusFailure = {
  code: 405,
  reason: 'MethodNotAllowed',
  message: 'the server does not allow this method on the requested resource',
  details: {},
};

export function badRequest(message: string): ApiError {
  return new ApiError({ code: 400, reason: 'BadRequest', message });
}

export function nameRequired(resource: Resource): ApiError {
  const message = `${resource.kind} "" is invalid: metadata.name: Required value: name or generateName is required`;
  return new ApiError({ code: 422, reason: 'Invalid', message, details: { kind: resource.kind } });
}

export function notFound(resource: Resource, name: string): ApiError {
  return resourceError(resource, name, 404, 'NotFound', `${qualifiedResource(resource)} "${name}" not found`);
}

export function alreadyExists(resource: Resource, name: string): ApiError {
  return resourceError(resource, name, 409, 'AlreadyExists', `${qualifiedResource(resource)} "${name}" already exists`);
}

export function conflict(resource: Resource, name: string): ApiError {
  const message =
    `Operation cannot be fulfilled on ${qualifiedResource(resource)} "${name}": ` +
    'the object has been modified; please apply your changes to the latest version and try again';
  return resourceError(resource, name, 409, 'Conflict', message);
}

export function resourceError(
  resource: Resource,
  name: string,
  code: number,
  reason: string,
  message: string,
): ApiError {
  const group = resource.group === '' ? {} : { group: resource.group };
  return new ApiError({ code, reason, message, details: { name, ...group, kind: resource.plural } });
}
