// The one catalog of registry error codes: each code's HTTP status and message, as the OCI
// distribution-spec (and Distribution's errcode/register.go) names them. Nobody else picks a status.

export const ERROR_CATALOG = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 404, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  // Not in the spec's table, but what Distribution and clients use for these cases.
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  MANIFEST_TOO_LARGE: { status: 413, message: 'manifest is larger than the registry accepts' },
  NOT_FOUND: { status: 404, message: 'no such endpoint' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  // The token endpoint and the management API (/api/v1): not registry protocol errors.
  REQUEST_INVALID: { status: 400, message: 'the request is invalid' },
  TAG_UNKNOWN: { status: 404, message: 'tag unknown to registry' },
  REVISION_UNKNOWN: { status: 404, message: 'no such revision in the tag history' },
  PRECONDITION_FAILED: { status: 412, message: 'the tag does not point at the expected digest' },
  CONFLICT: { status: 409, message: 'already exists' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  // 507 Insufficient Storage (RFC 4918): docker and containerd treat any 5xx as retryable, and
  // docker shows the status text, so its user reads "Insufficient Storage" rather than a bare 503.
  STORAGE_FULL: { status: 507, message: 'the registry storage is full' },
  UNKNOWN: { status: 500, message: 'unknown error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;
