#!/bin/sh
# Refresh the shipped list of public email provider domains from the npm
# package free-email-domains (a maintained public list).  Usage:
#   sh src/refresh_email_providers.sh data/public-email-providers.txt
# Afterwards rebuild, reinstall and run simpleproduct.sp_relink() so that
# existing people follow the new list.
set -eu
out=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent free-email-domains > name && tar xzf "$(cat name)")
version=$(node -p 'require(process.argv[1]).version' "$work/package/package.json")
{
	echo "# Public email provider domains: people at these are never linked to an"
	echo "# organization by domain, and none of them can be an organization's domain."
	echo "# Source: npm package free-email-domains $version (MIT licence)."
	echo "# Refresh with: make refresh-email-providers"
	node -e 'for (const d of require(process.argv[1])) console.log(String(d).trim().toLowerCase())' \
		"$work/package/domains.json" | grep -E '^[a-z0-9.-]+$' | LC_ALL=C sort -u
} > "$out.new"
mv "$out.new" "$out"
echo "$(grep -vc '^#' "$out") domains from free-email-domains $version written to $out"
