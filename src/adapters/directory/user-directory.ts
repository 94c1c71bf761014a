// The bank's user directory: who among the people on a bill is a bank customer.
export interface BankUser {
  userId: string;
  name: string;
  phone?: string;
  email?: string;
}

export interface DirectoryQuery {
  userId?: string | null;
  phone?: string | null;
  email?: string | null;
}

export interface UserDirectory {
  /** The bank customer matching the bank user id, else the phone, else the email; undefined if none. */
  find(query: DirectoryQuery): Promise<BankUser | undefined>;
}

/** Development and tests: a seeded list (Alice is a bank customer, Bob is not). */
export const SEEDED_BANK_USERS: readonly BankUser[] = [
  { userId: "bank-user-alice", name: "Alice", phone: "+84901234567", email: "alice@example.com" },
  { userId: "bank-user-carol", name: "Carol", phone: "+84907654321", email: "carol@example.com" },
  { userId: "bank-user-dave", name: "Dave", phone: "+14155550123", email: "dave@example.com" },
];

export class MockUserDirectory implements UserDirectory {
  constructor(private readonly users: readonly BankUser[] = SEEDED_BANK_USERS) {}

  async find(query: DirectoryQuery): Promise<BankUser | undefined> {
    const email = query.email?.toLowerCase();
    return (
      (query.userId ? this.users.find((u) => u.userId === query.userId) : undefined) ??
      (query.phone ? this.users.find((u) => u.phone === query.phone) : undefined) ??
      (email ? this.users.find((u) => u.email?.toLowerCase() === email) : undefined)
    );
  }
}
