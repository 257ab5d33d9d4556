import { describe, expect, it } from 'vitest';
import { isTrustedPeer } from '../../src/http/auth.js';

describe('isTrustedPeer', () => {
  it('trusts loopback and the ingress proxy only', () => {
    expect(isTrustedPeer('127.0.0.1')).toBe(true);
    expect(isTrustedPeer('::1')).toBe(true);
    expect(isTrustedPeer('::ffff:172.30.32.2')).toBe(true);
    expect(isTrustedPeer('172.30.32.3')).toBe(false);
    expect(isTrustedPeer('192.168.1.2')).toBe(false);
  });
});
