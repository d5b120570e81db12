/** The authenticated caller of a request, set by ApiKeyGuard. */
export interface Caller {
  role: 'caller' | 'admin';
  /** The first 16 hex digits of the key's SHA-256: stable and safe to use as a rate-limit key, unlike the key. */
  id: string;
  /** What spend is booked to: `key-<n>`, the key's position in SERVICE_API_KEYS (from 1), or `admin`. Never the key. */
  name: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}
