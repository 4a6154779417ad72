/**
 * The one door to @peculiar/x509, which mints the demo's certificates (the probe reads
 * certificates with its own DER reader, der.ts): its decorators need reflect-metadata loaded
 * first, and it must use Node's WebCrypto. Import it from here only.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
