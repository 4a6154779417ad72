/** Fake SMTP servers scripted in the test, on loopback: the demo's endpoint serves the tests too. */
export * from '../../src/demo/smtp-endpoint.js';
