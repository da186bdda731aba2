/**
 * How far apart the clocks of Latchkey's instances (and of the services verifying its tokens) may be.
 * A signing key outlives its last token by this much; a token issued further in the future is refused.
 */
export const CLOCK_SKEW_SECONDS = 30;
