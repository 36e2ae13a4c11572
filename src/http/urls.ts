// Location URLs. Relative by default, so a TLS-terminating proxy in front never turns them into
// http:// links (distribution#2862); absolute under BERTH_PUBLIC_URL when one is configured, or
// built from X-Forwarded-Proto/-Host when the proxy is trusted (BERTH_TRUST_PROXY) and sends them.
import type { Context } from 'koa';

export class UrlBuilder {
  constructor(
    private readonly publicUrl: string | undefined,
    private readonly trustProxy = false,
  ) {}

  /**
   * The absolute base URL clients reach this registry at (token realm, webhook target URLs):
   * BERTH_PUBLIC_URL, else the request's scheme and host (the forwarded ones behind a trusted
   * proxy: Koa reads X-Forwarded-* when the app's `proxy` is on).
   */
  externalBase(ctx: Context): string {
    return this.publicUrl ?? `${ctx.protocol}://${ctx.host}`;
  }

  /** Prefix of Location headers: '' (relative) unless a public or trusted forwarded URL is known. */
  private base(ctx: Context): string {
    if (this.publicUrl !== undefined) return this.publicUrl;
    if (this.trustProxy && (ctx.get('X-Forwarded-Host') || ctx.get('X-Forwarded-Proto'))) return this.externalBase(ctx);
    return '';
  }

  blob(ctx: Context, repository: string, digest: string): string {
    return `${this.base(ctx)}/v2/${repository}/blobs/${digest}`;
  }

  upload(ctx: Context, repository: string, uploadId: string): string {
    return `${this.base(ctx)}/v2/${repository}/blobs/uploads/${uploadId}`;
  }

  manifest(ctx: Context, repository: string, reference: string): string {
    return `${this.base(ctx)}/v2/${repository}/manifests/${reference}`;
  }

  /** Paths for Link headers, which clients resolve against the request URL. */
  tagsPage(repository: string, n: number, last: string): string {
    return `/v2/${repository}/tags/list?n=${n}&last=${encodeURIComponent(last)}`;
  }

  catalogPage(n: number, last: string): string {
    return `/v2/_catalog?n=${n}&last=${encodeURIComponent(last)}`;
  }
}
