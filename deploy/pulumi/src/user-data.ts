export interface UserDataOptions {
  readonly repoUrl: string;
  readonly repoRef: string;
  readonly composeFile: string;
  readonly publicUrl: string;
}

/** A value as one single-quoted shell word. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The single instance's first boot: Docker and Compose from Ubuntu's own packages, the repository,
 * an .env beside the compose file, then `docker compose up -d`.
 *
 * The secrets (SECRET_KEY, POSTGRES_PASSWORD, PGADMIN_PASSWORD: the variables deploy/compose.yml requires) are drawn on the instance and
 * written to a file only root reads: they never pass through user data (which the EC2 API and the
 * metadata service hand out), the Pulumi state, or anyone's terminal. An .env that exists is kept,
 * so a second run never changes the secrets of a database that already holds data.
 */
export function singleUserData(opts: UserDataOptions): string {
  return `#!/bin/bash
set -euo pipefail
exec > >(tee -a /var/log/latchkey-setup.log) 2>&1

REPO_URL=${shellQuote(opts.repoUrl)}
REPO_REF=${shellQuote(opts.repoRef)}
COMPOSE_FILE=${shellQuote(opts.composeFile)}
PUBLIC_URL=${shellQuote(opts.publicUrl)}
APP_DIR=/opt/latchkey

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q docker.io docker-compose-v2 git openssl
systemctl enable --now docker

if [ ! -d "$APP_DIR/.git" ]; then
  git clone --depth 1 --branch "$REPO_REF" "$REPO_URL" "$APP_DIR"
fi
chmod 0750 "$APP_DIR"
cd "$APP_DIR/$(dirname "$COMPOSE_FILE")"

if [ ! -f .env ]; then
  (
    umask 077
    cat > .env <<EOF
NODE_ENV=production
PUBLIC_URL=$PUBLIC_URL
LATCHKEY_PORT=80
SECRET_KEY=$(openssl rand -base64 32)
POSTGRES_PASSWORD=$(openssl rand -hex 24)
PGADMIN_PASSWORD=$(openssl rand -hex 16)
EOF
  )
fi

docker compose -f "$(basename "$COMPOSE_FILE")" up -d
`;
}
