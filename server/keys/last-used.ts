// `last_used_at` is informational, so it is batched: admitted calls mark their key in memory
// and one UPDATE per interval writes them all, instead of a write on every request.
import { sql } from "drizzle-orm";
import type { Database } from "../../db/index.ts";

export class LastUsedBatcher {
  private pending = new Map<string, Date>();

  constructor(private readonly db: Database) {}

  touch(keyId: string, at: Date): void {
    this.pending.set(keyId, at);
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = [...this.pending];
    this.pending.clear();
    const values = sql.join(
      batch.map(([id, at]) => sql`(${id}, ${at.toISOString()}::timestamptz)`),
      sql`, `,
    );
    try {
      await this.db.execute(sql`
        update api_keys set last_used_at = v.at
        from (values ${values}) as v(id, at)
        where api_keys.id = v.id and (api_keys.last_used_at is null or api_keys.last_used_at < v.at)`);
    } catch (error) {
      // Keep what could not be written for the next flush, unless newer marks arrived meanwhile.
      for (const [id, at] of batch) if (!this.pending.has(id)) this.pending.set(id, at);
      throw error;
    }
  }
}
