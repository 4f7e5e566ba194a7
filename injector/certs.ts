// The webhook's TLS: a small certificate authority owned by the control plane, the serving certificate it issues,
// and when to rotate each. node:crypto cannot create X.509 certificates, so @peculiar/x509 builds them (ECDSA P-256
// over WebCrypto). The apiserver trusts the serving certificate through the webhook's caBundle (cabundle.ts), so
// the CA outlives several serving certificates, and a new CA is published next to the old one before anything it
// signed is used (the bundle carries both while the old one is still valid).
// @peculiar/x509 resolves its ASN.1 codecs through tsyringe, which needs the Reflect metadata polyfill loaded first.
import { isIP } from 'node:net';
import 'reflect-metadata';
import { KeyObject, randomBytes, webcrypto } from 'node:crypto';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from '@peculiar/x509';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const crypto = webcrypto as unknown as Crypto;
const DAY = 24 * 3600 * 1000;

export const DEFAULT_CA_VALIDITY_MS = 365 * DAY;
export const DEFAULT_SERVING_VALIDITY_MS = 30 * DAY;
/** Renew when less than this fraction of a certificate's lifetime is left (cert-manager renews at 1/3 too). */
export const RENEW_FRACTION = 1 / 3;
/** Backdating, so a node whose clock lags a little still accepts a fresh certificate. */
const BACKDATE_MS = 5 * 60 * 1000;

export interface KeyPair {
  /** PEM */
  readonly certPem: string;
  /** PKCS#8 PEM */
  readonly keyPem: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive
  return b.toString('hex');
}

async function keys(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

function keyPem(key: CryptoKey): string {
  return KeyObject.from(key as unknown as webcrypto.CryptoKey)
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

function pair(cert: X509Certificate, key: CryptoKey): KeyPair {
  return {
    certPem: cert.toString('pem') + '\n',
    keyPem: keyPem(key),
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
  };
}

/** A new self-signed CA that may sign serving certificates only (path length 0). */
export async function createCa(commonName: string, now: number, validityMs = DEFAULT_CA_VALIDITY_MS): Promise<KeyPair> {
  const k = await keys();
  const cert = await X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: `CN=${commonName}`,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + validityMs),
      keys: k,
      signingAlgorithm: ALG,
      extensions: [
        new BasicConstraintsExtension(true, 0, true),
        new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
        await SubjectKeyIdentifierExtension.create(k.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return pair(cert, k.privateKey);
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return crypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
}

/**
 * A serving certificate for `dnsNames` (the webhook's and the xDS Service's names; an IP address becomes an IP SAN:
 * the test cluster reaches the control plane at the node's address), signed by `ca`, never outliving it.
 */
export async function issueServing(
  ca: KeyPair,
  dnsNames: readonly string[],
  now: number,
  validityMs = DEFAULT_SERVING_VALIDITY_MS,
): Promise<KeyPair> {
  if (dnsNames.length === 0) throw new Error('issueServing: at least one DNS name is required');
  const caCert = new X509Certificate(ca.certPem);
  const k = await keys();
  const cert = await X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: `CN=${dnsNames[0]}`,
      issuer: caCert.subject,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(Math.min(now + validityMs, ca.notAfter)),
      publicKey: k.publicKey,
      signingKey: await importKey(ca.keyPem),
      signingAlgorithm: ALG,
      extensions: [
        new BasicConstraintsExtension(false, undefined, true),
        new KeyUsagesExtension(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment, true),
        new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth]),
        new SubjectAlternativeNameExtension(
          dnsNames.map((value) => ({ type: isIP(value) ? ('ip' as const) : ('dns' as const), value })),
          false,
        ),
        await AuthorityKeyIdentifierExtension.create(caCert, false, crypto),
      ],
    },
    crypto,
  );
  return pair(cert, k.privateKey);
}

/** Pure: true when less than RENEW_FRACTION of the certificate's lifetime is left at `now` (or it is expired). */
export function needsRenewal(c: Pick<KeyPair, 'notBefore' | 'notAfter'>, now: number): boolean {
  return now >= c.notAfter - (c.notAfter - c.notBefore) * RENEW_FRACTION;
}

/** Pure: when to look again (the renewal point), never earlier than `now`. */
export function renewalAt(c: Pick<KeyPair, 'notBefore' | 'notAfter'>, now: number): number {
  return Math.max(now, c.notAfter - (c.notAfter - c.notBefore) * RENEW_FRACTION);
}

/** The webhook's TLS state: CA (and the previous one while it is still valid), serving certificate. */
export interface TlsState {
  readonly ca: KeyPair;
  readonly previousCa?: KeyPair;
  readonly serving: KeyPair;
}

/** Pure: the caBundle the apiserver needs for `state` at `now`: the current CA, plus the previous while valid. */
export function caBundle(state: Pick<TlsState, 'ca' | 'previousCa'>, now: number): string {
  const prev = state.previousCa && state.previousCa.notAfter > now ? state.previousCa.certPem : '';
  return state.ca.certPem + prev;
}

export interface RotationOptions {
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly caValidityMs?: number;
  readonly servingValidityMs?: number;
}

/**
 * One rotation step, level-triggered: from what is (maybe nothing) to what must be at `now`. A CA due for renewal
 * is replaced (the old one kept as `previousCa` for the bundle), which also re-issues the serving certificate; a
 * serving certificate due for renewal, not matching the names or from another CA is re-issued. Returns the same
 * object when nothing had to change.
 */
export async function rotate(state: TlsState | undefined, now: number, o: RotationOptions): Promise<TlsState> {
  let ca = state?.ca;
  let previousCa = state?.previousCa;
  let serving = state?.serving;
  if (!ca || needsRenewal(ca, now)) {
    if (ca) previousCa = ca;
    ca = await createCa(o.commonName, now, o.caValidityMs);
    serving = undefined;
  }
  if (previousCa && previousCa.notAfter <= now) previousCa = undefined;
  if (!serving || needsRenewal(serving, now) || !(await servedBy(serving, ca, o.dnsNames))) {
    serving = await issueServing(ca, o.dnsNames, now, o.servingValidityMs);
  }
  if (state && ca === state.ca && serving === state.serving && previousCa === state.previousCa) return state;
  return { ca, serving, ...(previousCa ? { previousCa } : {}) };
}

async function servedBy(serving: KeyPair, ca: KeyPair, dnsNames: readonly string[]): Promise<boolean> {
  const cert = new X509Certificate(serving.certPem);
  const caCert = new X509Certificate(ca.certPem);
  if (!(await cert.verify({ publicKey: caCert, signatureOnly: true }, crypto))) return false;
  const san = cert.getExtension(SubjectAlternativeNameExtension);
  const names = new Set(
    (san?.names.items ?? []).filter((n) => n.type === 'dns' || n.type === 'ip').map((n) => n.value),
  );
  return dnsNames.every((n) => names.has(n)) && names.size === dnsNames.length;
}
