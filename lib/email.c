/*
 * email.c - the one normal form of an email address.
 *
 * Every service that stores, compares or counts addresses (users'
 * accounts, auth's sign-in limits) uses this function, so that two
 * services never disagree on whether two spellings are one address: a
 * limit counted on one spelling and an account found under another is a
 * limit bypassed.
 *
 * Addresses are ASCII only.  The notifications service speaks plain SMTP
 * (no SMTPUTF8, RFC 6531) and looks up no internationalised domain names
 * (no IDNA, RFC 5891), so it could not deliver to anything else; a domain
 * in its ASCII form ("xn--...") is fine.  Being ASCII, the case folding is
 * plain: the whole address is lower-cased.  (The local part is
 * case-sensitive in theory, RFC 5321 2.4; no mail provider in use makes
 * it so, and people type it in any case.)
 */
#include <string.h>

#include "bellhop.h"

#define EMAIL_MAX 254 /* RFC 5321 4.5.3.1.3: a path of 256 with <> */
#define LOCAL_MAX 64
#define LABEL_MAX 63

/* RFC 5322 specials, allowed only in quoted local parts, which bellhop
 * does not take: they would need quoting in every mail header. */
static bool
is_special(char c)
{
	return strchr("()<>[]:;,\\\"", c) != NULL;
}

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static const char *
check_local_part(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return "the part before '@' is empty";
	if (len > LOCAL_MAX)
		return "the part before '@' is longer than 64 characters";
	if (s[0] == '.' || s[len - 1] == '.')
		return "the part before '@' starts or ends with a dot";
	for (i = 0; i < len; i++) {
		if (is_special(s[i]))
			return "the part before '@' holds a character such as "
			    "( ) < > [ ] : ; , \\ or \"";
		if (s[i] == '.' && i + 1 < len && s[i + 1] == '.')
			return "the part before '@' holds two dots in a row";
	}
	return NULL;
}

static const char *
check_domain(const char *s, size_t len)
{
	size_t i, label = 0, labels = 0;
	char c;

	if (len == 0)
		return "the domain after '@' is empty";
	for (i = 0; i <= len; i++) {
		c = i < len ? s[i] : '.';
		if (c == '.') {
			if (label == 0)
				return "the domain has an empty label";
			if (s[i - label] == '-' || s[i - 1] == '-')
				return "a domain label starts or ends with '-'";
			labels++;
			label = 0;
			continue;
		}
		if (++label > LABEL_MAX)
			return "a domain label is longer than 63 characters";
		if (!is_alnum(c) && c != '-')
			return "the domain holds a character other than "
			    "letters, digits, '-' and '.'";
	}
	if (labels < 2)
		return "the domain must have at least two labels, as in "
		    "example.com";
	return NULL;
}

char *
bh_email_normalize_why(bh_pool *pool, const char *s, size_t len,
    const char **why)
{
	const char *start = s, *end = s + len, *at, *reason = NULL;
	char *out = NULL;
	size_t n, i;

	while (start < end && *start == ' ')
		start++;
	while (end > start && end[-1] == ' ')
		end--;
	n = (size_t)(end - start);
	if (n == 0) {
		reason = "it is empty";
		goto out;
	}
	/* Byte by byte first: nothing below looks beyond ASCII. */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)start[i];

		if (c >= 0x80) {
			reason = "it holds a character beyond ASCII (addresses "
			    "in other scripts are not supported)";
			goto out;
		}
		if (c <= 0x20 || c == 0x7f) {
			reason = "it holds a space or a control character";
			goto out;
		}
	}
	if (n > EMAIL_MAX) {
		reason = "it is longer than 254 characters";
		goto out;
	}
	if ((at = memchr(start, '@', n)) == NULL ||
	    memchr(at + 1, '@', (size_t)(end - at - 1)) != NULL) {
		reason = "it must hold exactly one '@'";
		goto out;
	}
	if ((reason = check_local_part(start, (size_t)(at - start))) !=
	    NULL || (reason = check_domain(at + 1, (size_t)(end - at - 1))) !=
	    NULL)
		goto out;
	out = bh_pstrndup(pool, start, n);
	for (i = 0; i < n; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
out:
	if (why != NULL)
		*why = reason;
	return out;
}

char *
bh_email_normalize(bh_pool *pool, const char *s, size_t len)
{
	return bh_email_normalize_why(pool, s, len, NULL);
}
