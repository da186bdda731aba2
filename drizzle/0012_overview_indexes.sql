DROP INDEX "audit_events_type_idx";--> statement-breakpoint
CREATE INDEX "audit_events_type_occurred_at_idx" ON "audit_events" USING btree ("type","occurred_at");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_dead_idx" ON "webhook_deliveries" USING btree ("endpoint_id","id") WHERE status = 'dead';