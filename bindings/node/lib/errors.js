'use strict';
// Errors: every error the package raises is a WardError, with a code (ward's
// own codes are -1..-99, the same numbers as libward's WARD_E*), a message
// and optional data. A handler throws one to fail its call with that code,
// message and data.

const codes = Object.freeze({
  EINVAL: -1, ENOMEM: -2, ESYS: -3, ESPAWN: -4, EHANDSHAKE: -5, ETIMEDOUT: -6,
  ECANCELED: -7, ECRASHED: -8, EPROTO: -9, ETOOBIG: -10, ENOMETHOD: -11, EREMOTE: -12,
  ECLOSED: -13, EGAVEUP: -14, ESTALE: -15, EPERM: -16,
});

class WardError extends Error {
  constructor(code, message = '', data = undefined) {
    super(message);
    this.name = 'WardError';
    this.code = code;
    if (data !== undefined) this.data = data;
  }
}

// A fixed code per class.
function fixed(name, code) {
  const cls = class extends WardError {
    constructor(message = '', data = undefined) {
      super(code, message, data);
      this.name = name;
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

// The host answered a call with an error (its code, message and data).
class RemoteError extends WardError {
  constructor(code, message, data) {
    super(code, message, data);
    this.name = 'RemoteError';
  }
}
// The host serves no such method (-11).
class NoMethod extends RemoteError {
  constructor(message, data) {
    super(codes.ENOMETHOD, message, data);
    this.name = 'NoMethod';
  }
}

const Cancelled = fixed('Cancelled', codes.ECANCELED);
const Timeout = fixed('Timeout', codes.ETIMEDOUT);
const Closed = fixed('Closed', codes.ECLOSED);
const ProtocolError = fixed('ProtocolError', codes.EPROTO);
const TooBig = fixed('TooBig', codes.ETOOBIG);
const HandshakeError = fixed('HandshakeError', codes.EHANDSHAKE);
// The environment names no channel: not started by a ward host.
const NoHost = fixed('NoHost', codes.EINVAL);
// A payload that does not decode by its encoding (-9).
const PayloadError = fixed('PayloadError', codes.EPROTO);

module.exports = {
  codes, WardError, RemoteError, NoMethod, Cancelled, Timeout, Closed, ProtocolError,
  TooBig, HandshakeError, NoHost, PayloadError,
};
