/*
 * normalize.c
 *		Normalisation and validation of the identifiers simpleproduct keys
 *		on: email addresses, domains and external ids.
 *
 * Emails are trimmed and lower-cased, and their domain is converted to its
 * ASCII (punycode) form with libidn2, so that the Unicode and ASCII forms
 * of one domain are one domain.  Organization domains are also stripped of
 * scheme, path, port and a leading "www.".  Registrable domains and public
 * suffixes come from libpsl with the newest Public Suffix List on the
 * machine.  Public email providers come from the compiled-in list built
 * from data/public-email-providers.txt.
 */
#include "postgres.h"

#include <idn2.h>
#include <libpsl.h>
#include <stdlib.h>

#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/numeric.h"

#include "email_providers.h"
#include "simpleproduct.h"

#define SP_DOMAIN_MAX_LEN 253
#define SP_LABEL_MAX_LEN 63
#define SP_EMAIL_LOCAL_MAX_LEN 64
#define SP_INPUT_MAX_LEN 1024

/*
 * The Public Suffix List context, loaded on first use: the newest of the
 * list compiled into libpsl and the one installed on the machine.
 */
static const psl_ctx_t *
public_suffix_list(void)
{
	static const psl_ctx_t *psl = NULL;

	if (psl == NULL)
	{
		psl = psl_latest(NULL);
		if (psl == NULL)
			psl = psl_builtin();
		if (psl == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("could not load the Public Suffix List"),
					 errhint("Install the publicsuffix package.")));
	}
	return psl;
}

/*
 * The length in bytes of the white space or invisible format character that
 * starts at p (len bytes left), or 0: ASCII white space, and in UTF-8 the
 * no-break and other Unicode spaces, zero-width characters, the word joiner
 * and the byte order mark, which copy and paste bring along and which would
 * make one address look like two.
 */
static int
invisible_length(const unsigned char *p, int len)
{
	if (len >= 1 && (*p == ' ' || (*p >= '\t' && *p <= '\r')))
		return 1;
	if (len >= 2 && p[0] == 0xC2 && (p[1] == 0xA0 || p[1] == 0x85))
		return 2;
	if (len >= 3 && p[0] == 0xE2 && p[1] == 0x80 &&
		(p[2] <= 0x8F || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF))
		return 3;				/* U+2000..U+200F, U+2028, U+2029, U+202F */
	if (len >= 3 && p[0] == 0xE2 && p[1] == 0x81 &&
		(p[2] == 0x9F || p[2] == 0xA0))
		return 3;				/* U+205F, U+2060 */
	if (len >= 3 && p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
		return 3;				/* U+3000 */
	if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
		return 3;				/* U+FEFF */
	return 0;
}

/*
 * The length of the invisible character that ends at input[len - 1], or 0.
 */
static int
invisible_length_before(const char *input, int len)
{
	int			width;

	for (width = 1; width <= 3 && width <= len; width++)
		if (invisible_length((const unsigned char *) input + len - width,
							 width) == width)
			return width;
	return 0;
}

/*
 * A palloc'd copy of input[0..len) without leading and trailing white space
 * and invisible characters.
 */
static char *
trimmed_copy(const char *input, int len)
{
	int			width;

	while (len > 0 &&
		   (width = invisible_length((const unsigned char *) input, len)) > 0)
	{
		input += width;
		len -= width;
	}
	while (len > 0 && (width = invisible_length_before(input, len)) > 0)
		len -= width;
	return pnstrdup(input, len);
}

/*
 * The text in Unicode normalization form C (PostgreSQL 13 and later, in a
 * UTF-8 database), so that one accented letter written in two ways is one
 * letter; otherwise the text unchanged.
 */
static char *
nfc(char *input)
{
#if PG_VERSION_NUM >= 130000
	const char *p;

	if (GetDatabaseEncoding() != PG_UTF8)
		return input;
	for (p = input; *p != '\0'; p++)
	{
		if ((unsigned char) *p >= 0x80)
		{
			Datum		normalized;

			normalized = DirectFunctionCall2(unicode_normalize_func,
											 PointerGetDatum(cstring_to_text(input)),
											 PointerGetDatum(cstring_to_text("NFC")));
			return text_to_cstring(DatumGetTextPP(normalized));
		}
	}
#endif
	return input;
}

/*
 * Whether an ASCII domain is a well-formed host name of at least two
 * labels: letters, digits and inner hyphens, labels of 1 to 63 characters,
 * at most 253 in all, and a top-level label that is not all digits.
 */
static bool
ascii_domain_is_valid(const char *domain)
{
	int			len = strlen(domain);
	int			label_len = 0;
	int			labels = 1;
	bool		label_all_digits = true;
	int			i;

	if (len == 0 || len > SP_DOMAIN_MAX_LEN)
		return false;
	for (i = 0; i < len; i++)
	{
		char		c = domain[i];

		if (c == '.')
		{
			if (label_len == 0 || domain[i - 1] == '-')
				return false;
			labels++;
			label_len = 0;
			label_all_digits = true;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (c == '-' && label_len == 0)
			return false;
		if (!(c >= '0' && c <= '9'))
			label_all_digits = false;
		if (++label_len > SP_LABEL_MAX_LEN)
			return false;
	}
	if (label_len == 0 || domain[len - 1] == '-')
		return false;
	return labels >= 2 && !label_all_digits;
}

/*
 * Convert a domain to lower-case ASCII with libidn2 (UTS #46 mapping, NFC)
 * and validate it.  Returns NULL when it is not a valid domain.
 */
static char *
domain_to_ascii(const char *domain)
{
	char	   *ascii = NULL;
	char	   *result;
	int			len = strlen(domain);
	int			rc;
	bool		is_ascii = true;
	int			i;

	/* One trailing dot (the DNS root) is allowed and dropped. */
	if (len > 1 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len > SP_INPUT_MAX_LEN)
		return NULL;

	for (i = 0; i < len; i++)
		if ((unsigned char) domain[i] >= 0x80)
			is_ascii = false;

	if (is_ascii)
	{
		/* The common case needs no library call: lower-case and check. */
		result = palloc(len + 1);
		for (i = 0; i < len; i++)
			result[i] = pg_ascii_tolower((unsigned char) domain[i]);
		result[len] = '\0';
	}
	else
	{
		char	   *copy = pnstrdup(domain, len);

		if (pg_database_encoding_max_length() > 1 &&
			GetDatabaseEncoding() != PG_UTF8)
			return NULL;
		rc = idn2_to_ascii_8z(copy, &ascii,
							  IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		if (rc != IDN2_OK)
			rc = idn2_to_ascii_8z(copy, &ascii,
								  IDN2_NFC_INPUT | IDN2_TRANSITIONAL);
		if (rc != IDN2_OK)
			return NULL;
		result = pstrdup(ascii);
		idn2_free(ascii);
		for (i = 0; result[i] != '\0'; i++)
			result[i] = pg_ascii_tolower((unsigned char) result[i]);
	}

	/*
	 * An A-label must be what its own Unicode form encodes to: xn--zz does
	 * not decode, and xn--a decodes to a character no domain may hold.
	 */
	if (strstr(result, "xn--") != NULL)
	{
		char	   *unicode = NULL;
		char	   *again = NULL;
		bool		same;

		if (idn2_to_unicode_8z8z(result, &unicode, 0) != IDN2_OK)
			return NULL;
		rc = idn2_to_ascii_8z(unicode, &again,
							  IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		same = rc == IDN2_OK && pg_strcasecmp(again, result) == 0;
		idn2_free(unicode);
		if (rc == IDN2_OK)
			idn2_free(again);
		if (!same)
			return NULL;
	}

	if (!ascii_domain_is_valid(result))
		return NULL;
	return result;
}

/*
 * Whether s (len bytes, UTF-8) is an acceptable local part of an address:
 * 1 to 64 bytes of RFC 5322 atext and inner dots, or non-ASCII characters
 * (RFC 6531), with no dot at either end and no two dots in a row.
 */
static bool
email_local_is_valid(const char *s, int len)
{
	int			i;

	if (len == 0 || len > SP_EMAIL_LOCAL_MAX_LEN)
		return false;
	if (s[0] == '.' || s[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c >= 0x80)
		{
			if (invisible_length((const unsigned char *) s + i, len - i) > 0)
				return false;
			continue;
		}
		if (c == '.')
		{
			if (s[i + 1] == '.')
				return false;
			continue;
		}
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9'))
			continue;
		if (strchr("!#$%&'*+-/=?^_`{|}~", c) == NULL)
			return false;
	}
	return true;
}

/*
 * Normalise an email address: trim, lower-case, domain to ASCII.  Returns
 * the palloc'd address and sets *domain (when not NULL) to its domain.  An
 * invalid address raises 22023 when raise is true, else returns NULL.
 */
char *
sp_normalize_email(const char *input, bool raise, char **domain)
{
	char	   *email = nfc(trimmed_copy(input, strlen(input)));
	char	   *at = strchr(email, '@');
	char	   *local;
	char	   *ascii_domain = NULL;
	char	   *result;

	if (at != NULL && strchr(at + 1, '@') == NULL &&
		email_local_is_valid(email, at - email) &&
		pg_verifymbstr(email, strlen(email), true))
		ascii_domain = domain_to_ascii(at + 1);

	/* Nobody has a mailbox at a public suffix such as co.uk. */
	if (ascii_domain != NULL &&
		psl_is_public_suffix(public_suffix_list(), ascii_domain))
		ascii_domain = NULL;

	if (ascii_domain == NULL)
	{
		if (!raise)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid email address: \"%s\"", email),
				 errdetail("An email address is local@domain, with a domain of at least two labels such as acme.com.")));
	}

	local = str_tolower(email, at - email, DEFAULT_COLLATION_OID);
	result = psprintf("%s@%s", local, ascii_domain);
	if (domain != NULL)
		*domain = ascii_domain;
	return result;
}

/*
 * Strip what a pasted URL adds around a host name: a scheme, user info, a
 * path, query or fragment, a port, and one leading "www.".
 */
static char *
strip_url(char *text)
{
	char	   *host = text;
	char	   *scheme_end = strstr(host, "://");
	char	   *end;
	char	   *at;

	if (scheme_end != NULL)
		host = scheme_end + 3;
	else if (strncmp(host, "//", 2) == 0)
		host += 2;

	end = host + strcspn(host, "/?#");
	*end = '\0';

	at = strrchr(host, '@');
	if (at != NULL)
		host = at + 1;

	end = strrchr(host, ':');
	if (end != NULL && end[1] != '\0' &&
		strspn(end + 1, "0123456789") == strlen(end + 1))
		*end = '\0';

	if (pg_strncasecmp(host, "www.", 4) == 0)
		host += 4;
	return host;
}

/*
 * Normalise a domain as organizations store it.  An invalid one raises
 * 22023 when raise is true, else gives NULL.
 */
char *
sp_normalize_domain(const char *input, bool raise)
{
	char	   *text = trimmed_copy(input, strlen(input));
	char	   *ascii = NULL;

	if (pg_verifymbstr(text, strlen(text), true))
		ascii = domain_to_ascii(strip_url(text));
	if (ascii == NULL && raise)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid domain: \"%s\"", text),
				 errdetail("A domain is a host name such as acme.com; a URL such as https://www.acme.com/about is accepted too.")));
	return ascii;
}

/*
 * Normalise a domain for an organization and refuse the ones that cannot
 * stand for one: public suffixes and public email providers.
 */
char *
sp_organization_domain(const char *input)
{
	char	   *domain = sp_normalize_domain(input, true);

	if (psl_is_public_suffix(public_suffix_list(), domain))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("domain \"%s\" is a public suffix", domain),
				 errdetail("Names under a public suffix belong to many unrelated owners."),
				 errhint("Use the organization's own domain, such as acme.co.uk.")));
	if (sp_email_root(domain) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("domain \"%s\" belongs to a public email provider",
						domain),
				 errdetail("People with addresses there do not share an organization."),
				 errhint("Use the organization's own domain.")));
	return domain;
}

/*
 * The registrable domain of an ASCII domain (palloc'd), or NULL when the
 * domain is itself a public suffix.
 */
char *
sp_registrable(const char *ascii_domain)
{
	const char *root;

	root = psl_registrable_domain(public_suffix_list(), ascii_domain);
	return root != NULL ? pstrdup(root) : NULL;
}

/*
 * bsearch comparator over the compiled-in provider list.
 */
static int
provider_compare(const void *key, const void *member)
{
	return strcmp((const char *) key, *(const char *const *) member);
}

/*
 * Whether the ASCII domain itself is on the public email provider list.
 */
bool
sp_is_email_provider(const char *ascii_domain)
{
	return bsearch(ascii_domain, sp_email_providers,
				   sp_email_providers_count, sizeof(const char *),
				   provider_compare) != NULL;
}

/*
 * The domain that bounds automatic linking for people whose email is at
 * ascii_domain: its registrable domain, or NULL when such people must never
 * be linked by domain (a public suffix, or a public email provider at the
 * domain or any parent up to the registrable domain).
 */
char *
sp_email_root(const char *ascii_domain)
{
	char	   *root = sp_registrable(ascii_domain);
	const char *suffix = ascii_domain;
	size_t		root_len;

	if (root == NULL)
		return NULL;
	root_len = strlen(root);
	for (;;)
	{
		if (sp_is_email_provider(suffix))
			return NULL;
		if (strlen(suffix) <= root_len)
			break;
		suffix = strchr(suffix, '.') + 1;
	}
	return root;
}

/*
 * Normalise an external id: trimmed, at most 255 characters, and not one
 * of the junk values buggy clients send for "no id".
 */
char *
sp_normalize_external_id(const char *input, int len)
{
	static const char *const junk[] = {
		"null", "undefined", "none", "nan", "0", "-1", "[object object]"
	};
	char	   *id = trimmed_copy(input, len);
	int			i;

	if (id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("externalId must not be empty"),
				 errhint("Omit externalId when the user has none.")));
	for (i = 0; i < lengthof(junk); i++)
		if (pg_strcasecmp(id, junk[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid externalId: \"%s\"", id),
					 errdetail("\"%s\" is what a client sends when it has no id, so it cannot identify anybody.",
							   id),
					 errhint("Omit externalId when the user has none.")));
	for (i = 0; id[i] != '\0'; i++)
		if ((unsigned char) id[i] < 0x20 || id[i] == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("externalId must not contain control characters")));
	if (!pg_verifymbstr(id, strlen(id), true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("externalId is not valid in the database encoding")));
	if (pg_mbstrlen(id) > SP_EXTERNAL_ID_MAX_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("externalId is longer than %d characters",
						SP_EXTERNAL_ID_MAX_CHARS)));
	return id;
}

/*
 * The member "externalId" of a caller's object, normalised: a string, or a
 * JSON integer taken as its decimal text.  NULL when absent or null.
 */
char *
sp_json_external_id(Jsonb *object, bool *present)
{
	JsonbValue *value = sp_json_get(object, "externalId");
	char	   *text;

	*present = (value != NULL);
	if (value == NULL || value->type == jbvNull)
		return NULL;
	if (value->type == jbvString)
		return sp_normalize_external_id(value->val.string.val,
										value->val.string.len);
	if (value->type == jbvNumeric)
	{
		text = DatumGetCString(DirectFunctionCall1(numeric_out,
												   NumericGetDatum(value->val.numeric)));
		if (strspn(text, "-0123456789") == strlen(text))
			return sp_normalize_external_id(text, strlen(text));
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("\"externalId\" must be a string or an integer")));
	return NULL;				/* keep compiler quiet */
}

PG_FUNCTION_INFO_V1(sp_normalize_email_sql);
PG_FUNCTION_INFO_V1(sp_normalize_domain_sql);
PG_FUNCTION_INFO_V1(sp_registrable_domain);
PG_FUNCTION_INFO_V1(sp_is_public_email_provider);

/*
 * SQL: simpleproduct.normalize_email(text).
 */
Datum
sp_normalize_email_sql(PG_FUNCTION_ARGS)
{
	char	   *email = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(sp_normalize_email(email, true, NULL)));
}

/*
 * SQL: simpleproduct.normalize_domain(text).
 */
Datum
sp_normalize_domain_sql(PG_FUNCTION_ARGS)
{
	char	   *domain = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(sp_normalize_domain(domain, true)));
}

/*
 * SQL: simpleproduct.registrable_domain(text).
 */
Datum
sp_registrable_domain(PG_FUNCTION_ARGS)
{
	char	   *domain = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *root = sp_registrable(sp_normalize_domain(domain, true));

	if (root == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(root));
}

/*
 * SQL: simpleproduct.is_public_email_provider(text).
 */
Datum
sp_is_public_email_provider(PG_FUNCTION_ARGS)
{
	char	   *domain = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *ascii = sp_normalize_domain(domain, true);

	PG_RETURN_BOOL(sp_registrable(ascii) != NULL &&
				   sp_email_root(ascii) == NULL);
}
