/** Certificates minted at run time: the demo's PKI helpers serve the tests too. */
export * from '../../src/demo/pki.js';
