// Location URLs. Relative by default, so a TLS-terminating proxy in front never turns them into
// http:// links (distribution#2862); absolute under BERTH_PUBLIC_URL when one is configured.
export class UrlBuilder {
  constructor(private readonly publicUrl: string | undefined) {}

  private url(path: string): string {
    return (this.publicUrl ?? '') + path;
  }

  blob(repository: string, digest: string): string {
    return this.url(`/v2/${repository}/blobs/${digest}`);
  }

  upload(repository: string, uploadId: string): string {
    return this.url(`/v2/${repository}/blobs/uploads/${uploadId}`);
  }

  manifest(repository: string, reference: string): string {
    return this.url(`/v2/${repository}/manifests/${reference}`);
  }

  /** Paths for Link headers, which clients resolve against the request URL. */
  tagsPage(repository: string, n: number, last: string): string {
    return `/v2/${repository}/tags/list?n=${n}&last=${encodeURIComponent(last)}`;
  }

  catalogPage(n: number, last: string): string {
    return `/v2/_catalog?n=${n}&last=${encodeURIComponent(last)}`;
  }
}
