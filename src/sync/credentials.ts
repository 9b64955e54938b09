/**
 * The device credential and where it lives. The desktop agent backs CredentialSource with the OS
 * keychain (DESIGN.md "Desktop agent"); the client only loads it once, saves it after each
 * refresh-token rotation and clears it on sign-out.
 */
import { z } from 'zod';
import type { TokenResponse } from '../shared/api.js';

export const deviceCredentialSchema = z.object({
  /** Base URL of the server this credential belongs to. */
  server: z.string(),
  accessToken: z.string(),
  /** Rotates on every use: the saved copy must always be the latest one. */
  refreshToken: z.string(),
  /** ISO-8601, by the server's clock (local time + measured offset when it was issued). */
  accessExpiresAt: z.string(),
  /** The access token's lifetime, so the proactive refresh margin scales for short-lived tokens. */
  accessTtlMs: z.number(),
  user: z.string(),
  deviceId: z.string(),
  deviceName: z.string(),
});
export type DeviceCredential = z.infer<typeof deviceCredentialSchema>;

export interface CredentialSource {
  /** The stored credential, or null when this device is not enrolled. */
  load(): Promise<DeviceCredential | null>;
  /**
   * Stores a new credential (after enrollment and after every refresh). The refresh token it
   * replaces no longer works, so an implementation should not fail here: when no keychain is
   * reachable, keep it in memory for the session and say so (DESIGN.md) rather than throw.
   */
  save(credential: DeviceCredential): Promise<void>;
  clear(): Promise<void>;
}

/** A CredentialSource that keeps the credential in memory only (tests; a session without a keychain). */
export class MemoryCredentialSource implements CredentialSource {
  constructor(private credential: DeviceCredential | null = null) {}

  async load(): Promise<DeviceCredential | null> {
    return this.credential;
  }

  async save(credential: DeviceCredential): Promise<void> {
    this.credential = credential;
  }

  async clear(): Promise<void> {
    this.credential = null;
  }

  get current(): DeviceCredential | null {
    return this.credential;
  }
}

/** The credential a token response stands for; `serverNow` dates the access token's expiry. */
export function credentialFrom(server: string, t: TokenResponse, serverNow: number): DeviceCredential {
  return {
    server,
    accessToken: t.accessToken,
    refreshToken: t.refreshToken,
    accessExpiresAt: new Date(serverNow + t.expiresIn * 1000).toISOString(),
    accessTtlMs: t.expiresIn * 1000,
    user: t.user.name,
    deviceId: t.device.id,
    deviceName: t.device.name,
  };
}
