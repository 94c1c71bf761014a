// Guards for the PostgreSQL mode of the test run: we only ever create, use and drop databases
// whose name says they are for tests.
export const TEST_DB_PATTERN = /^chillbill_test_[a-z0-9_]+$/;

export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
}

export function assertTestDatabase(url: string): void {
  const name = databaseName(url);
  if (!TEST_DB_PATTERN.test(name)) {
    throw new Error(`Refusing to run tests against database "${name}": its name must match ${TEST_DB_PATTERN}`);
  }
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}
