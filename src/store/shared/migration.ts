/**
 * A numbered schema migration. Each store keeps its own in `<store>/migrations/`, one
 * module per number; one change to the schema has one number in both stores. Never edit
 * a migration that has shipped: add the next number.
 */
export interface Migration {
  id: number;
  name: string;
  sql: string;
}
