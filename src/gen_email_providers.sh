#!/bin/sh
# Turn data/public-email-providers.txt (one domain a line, '#' comments) into
# a C file holding the domains as one sorted array, for bsearch() with
# strcmp() order.  Run by make; the output is a build product.
set -eu
echo '/* Generated from data/public-email-providers.txt; do not edit. */'
echo '#include "email_providers.h"'
echo
echo 'const char *const sp_email_providers[] = {'
grep -v '^#' "$1" | grep -v '^[[:space:]]*$' | LC_ALL=C sort -u |
	sed -e 's/["\\]//g' -e 's/^/\t"/' -e 's/$/",/'
echo '};'
echo
echo 'const int	sp_email_providers_count ='
echo '	sizeof(sp_email_providers) / sizeof(sp_email_providers[0]);'
