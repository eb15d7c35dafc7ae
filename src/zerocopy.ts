/**
 * `pul.zerocopy`: the method key a class implements to send itself as raw buffers
 * (`{ buffers, dtype, shape, strides }`). The out-of-band lane that uses it comes with the
 * cluster transport; locally, values are handed over by reference and never copied.
 */
export const zerocopy: unique symbol = Symbol.for('pulsing.zerocopy');
