CREATE TABLE "service_clients" (
	"client_id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"secret_hash" text NOT NULL,
	"scopes" text[] NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"secret_rotated_at" timestamp with time zone,
	CONSTRAINT "service_clients_name_unique" UNIQUE("name")
);
