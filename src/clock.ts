// Time is injected so tests can set it; nothing reads Date.now() for business rules directly.
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
