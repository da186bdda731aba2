CREATE INDEX "audit_events_user_id_id_idx" ON "audit_events" USING btree ("user_id","id");--> statement-breakpoint
CREATE INDEX "audit_events_email_id_idx" ON "audit_events" USING btree ("email","id");--> statement-breakpoint
CREATE INDEX "audit_events_actor_id_idx" ON "audit_events" USING btree ((details ->> 'actor'),"id");--> statement-breakpoint
DROP INDEX "audit_events_user_id_idx";
