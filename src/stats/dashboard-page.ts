import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const FILE = join(__dirname, 'dashboard.html');

/**
 * The dashboard: one static HTML file with its script and style inline (no build
 * step, nothing fetched from elsewhere). Read once at boot; its Content-Security-Policy
 * allows exactly those inline blocks (by hash) and connections to this origin only.
 */
export class DashboardPage {
  readonly html: string;
  readonly contentSecurityPolicy: string;

  constructor(file = FILE) {
    // `npm run build` copies the page next to the compiled controller; say so if a build skipped it.
    if (!existsSync(file)) throw new Error(`dashboard page not found at ${file} (npm run build copies src/stats/dashboard.html to dist/stats/)`);
    this.html = readFileSync(file, 'utf8');
    const hashes = (tag: string) =>
      [...this.html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map(([, body]) => `'sha256-${createHash('sha256').update(body).digest('base64')}'`);
    this.contentSecurityPolicy = [
      "default-src 'none'",
      `script-src ${hashes('script').join(' ')}`,
      `style-src ${hashes('style').join(' ')}`,
      "connect-src 'self'",
      'img-src data:',
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; ');
  }
}
