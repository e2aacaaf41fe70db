/** What every command knows about its caller: the tenant, and the time it takes as now. */
export interface CommandContext {
  organizationId: string;
  now: Date;
}
