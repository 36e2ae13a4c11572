// Header names the registry protocol uses, spelled once.

/** Every response: clients check it on /v2/ to know they talk to a v2 registry. */
export const API_VERSION = 'Docker-Distribution-API-Version';
/** The digest of the content a response carries or a push created (MUST on GET/HEAD on main). */
export const CONTENT_DIGEST = 'Docker-Content-Digest';
/** The upload session id on upload responses. */
export const UPLOAD_UUID = 'Docker-Upload-UUID';
/** Set on a manifest PUT when the manifest's subject was processed (referrers API). */
export const OCI_SUBJECT = 'OCI-Subject';
/** The tags a push by digest applied (multi-tag push, spec main). */
export const OCI_TAG = 'OCI-Tag';
/** Which referrers filters were applied. */
export const OCI_FILTERS_APPLIED = 'OCI-Filters-Applied';
export const REQUEST_ID = 'X-Request-Id';
