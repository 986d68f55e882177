/*
 * email_providers.h
 *		The compiled-in list of public email provider domains.
 *
 * The list comes from data/public-email-providers.txt, turned into a sorted
 * C array at build time by src/gen_email_providers.sh.
 */
#ifndef SP_EMAIL_PROVIDERS_H
#define SP_EMAIL_PROVIDERS_H

extern const char *const sp_email_providers[];
extern const int sp_email_providers_count;

#endif							/* SP_EMAIL_PROVIDERS_H */
