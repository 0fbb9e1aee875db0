/*
 * test_migrate.c - the parts of migrations that need no database: SHA-256,
 * finding migration files and their order, reading and checksumming them.
 * t/integration/migrate.sh runs them against PostgreSQL.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "runner.h"

/* ----------------------------------------------------------------- helpers */

static char *
hex_of(const void *data, size_t len)
{
	static char hex[BH_SHA256_HEX_LEN + 1];
	uint8_t digest[BH_SHA256_LEN];

	bh_sha256(data, len, digest);
	bh_sha256_digest_hex(digest, hex);
	return hex;
}

static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	CU_ASSERT_FATAL(s != NULL);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static char *
make_tmpdir(void)
{
	char tmpl[] = "/tmp/bh-test-migrate.XXXXXX";
	char *dir = mkdtemp(tmpl);

	CU_ASSERT_FATAL(dir != NULL);
	return strdup(dir);
}

static void
write_file(const char *dir, const char *name, const char *content)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(content, f);
	CU_ASSERT_FATAL(fclose(f) == 0);
}

/* rm -rf for the small trees these tests make. */
static void
remove_tree(const char *path)
{
	struct dirent *ent;
	struct stat st;
	char child[4096];
	DIR *d;

	if (lstat(path, &st) == -1)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((ent = readdir(d)) != NULL) {
			if (strcmp(ent->d_name, ".") == 0 ||
			    strcmp(ent->d_name, "..") == 0)
				continue;
			snprintf(child, sizeof(child), "%s/%s", path,
			    ent->d_name);
			remove_tree(child);
		}
		closedir(d);
		rmdir(path);
	} else
		unlink(path);
}

/* ----------------------------------------------------------------- SHA-256 */

/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf", SHA256ShortMsg). */
static void
test_sha256_vectors(void)
{
	CU_ASSERT_STRING_EQUAL(hex_of("", 0),
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CU_ASSERT_STRING_EQUAL(hex_of("abc", 3),
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* 448 bits: the padding no longer fits the first block */
	CU_ASSERT_STRING_EQUAL(hex_of(
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56),
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	CU_ASSERT_STRING_EQUAL(hex_of(
	    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
	    "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu", 112),
	    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void
test_sha256_million_a(void)
{
	char *a = repeat('a', 1000000);

	CU_ASSERT_STRING_EQUAL(hex_of(a, 1000000),
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(a);
}

/* Lengths around the 55/56/64-byte padding boundaries (expected values
 * from Python's hashlib). */
static void
test_sha256_padding_boundaries(void)
{
	static const struct {
		size_t n;
		const char *hex;
	} cases[] = {
		{ 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
		{ 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
		{ 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
		{ 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
		{ 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0" },
		{ 119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb" },
		{ 120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c" },
	};
	size_t i;
	char *a = repeat('a', 120);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_STRING_EQUAL(hex_of(a, cases[i].n), cases[i].hex);
	free(a);
}

/* Feeding the input in uneven pieces gives the one-shot digest. */
static void
test_sha256_incremental(void)
{
	static const size_t pieces[] = { 1, 63, 64, 65, 0, 127, 1000, 3 };
	uint8_t digest[BH_SHA256_LEN];
	char hex[BH_SHA256_HEX_LEN + 1];
	bh_sha256_ctx ctx;
	size_t off = 0, i = 0, n;
	char *a = repeat('a', 1000000);

	bh_sha256_init(&ctx);
	while (off < 1000000) {
		n = pieces[i++ % (sizeof(pieces) / sizeof(pieces[0]))];
		if (n > 1000000 - off)
			n = 1000000 - off;
		bh_sha256_update(&ctx, a + off, n);
		off += n;
	}
	bh_sha256_final(&ctx, digest);
	bh_sha256_digest_hex(digest, hex);
	CU_ASSERT_STRING_EQUAL(hex,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(a);
}

/* --------------------------------------------------------------- scanning */

static void
test_scan_numeric_order(void)
{
	char *dir = make_tmpdir(), path[4096];
	bh_migration *list = NULL;
	size_t n = 99;

	write_file(dir, "100_c.sql", "SELECT 100;");
	write_file(dir, "2_a.sql", "SELECT 2;");
	write_file(dir, "010_b.sql", "SELECT 10;");
	/* not migrations: ignored */
	write_file(dir, "README", "not sql");
	write_file(dir, "abc.sql", "SELECT 0;");
	write_file(dir, ".5_hidden.sql", "SELECT 5;");
	write_file(dir, "6-dash.sql", "SELECT 6;");
	write_file(dir, "7_upper.SQL", "SELECT 7;");
	write_file(dir, "8_.sql", "SELECT 8;");
	write_file(dir, "9_backup.sql~", "SELECT 9;");
	write_file(dir, "1234567890_too_many_digits.sql", "SELECT 1;");
	snprintf(path, sizeof(path), "%s/003_a_directory.sql", dir);
	CU_ASSERT_FATAL(mkdir(path, 0700) == 0);

	CU_ASSERT_EQUAL_FATAL(bh_migration_scan(dir, &list, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	/* lexically "010" < "100" < "2": the order must be numeric */
	CU_ASSERT_EQUAL(list[0].version, 2);
	CU_ASSERT_EQUAL(list[1].version, 10);
	CU_ASSERT_EQUAL(list[2].version, 100);
	CU_ASSERT_STRING_EQUAL(list[0].name, "2_a.sql");
	CU_ASSERT_STRING_EQUAL(list[1].name, "010_b.sql");
	CU_ASSERT_STRING_EQUAL(list[2].name, "100_c.sql");
	snprintf(path, sizeof(path), "%s/010_b.sql", dir);
	CU_ASSERT_STRING_EQUAL(list[1].path, path);

	bh_migration_list_free(list, n);
	remove_tree(dir);
	free(dir);
}

static void
test_scan_refuses_duplicate_numbers(void)
{
	char *dir = make_tmpdir();
	bh_migration *list = (bh_migration *)1;
	size_t n = 99;

	write_file(dir, "001_first.sql", "SELECT 1;");
	write_file(dir, "002_second.sql", "SELECT 2;");
	write_file(dir, "1_again.sql", "SELECT 1;");
	CU_ASSERT_EQUAL(bh_migration_scan(dir, &list, &n), -1);
	CU_ASSERT_PTR_NULL(list);
	CU_ASSERT_EQUAL(n, 0);
	remove_tree(dir);
	free(dir);
}

static void
test_scan_empty_and_missing(void)
{
	char *dir = make_tmpdir(), path[4096];
	bh_migration *list = NULL;
	size_t n = 99;

	CU_ASSERT_EQUAL(bh_migration_scan(dir, &list, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	bh_migration_list_free(list, n);

	snprintf(path, sizeof(path), "%s/no-such-service", dir);
	CU_ASSERT_EQUAL(bh_migration_scan(path, &list, &n), -1);
	CU_ASSERT_EQUAL(n, 0);
	remove_tree(dir);
	free(dir);
}

/* ---------------------------------------------------------------- reading */

static void
test_read_checksum_follows_content(void)
{
	static const char content[] =
	    "CREATE TABLE hotels (id int PRIMARY KEY);\n"
	    "CREATE INDEX ON hotels (id);\n";
	char *dir = make_tmpdir(), path[4096];
	char first[BH_SHA256_HEX_LEN + 1], changed[BH_SHA256_HEX_LEN + 1];
	char again[BH_SHA256_HEX_LEN + 1];
	char *copy, *sql;
	size_t len = 0;

	write_file(dir, "001_hotels.sql", content);
	snprintf(path, sizeof(path), "%s/001_hotels.sql", dir);

	sql = bh_migration_read(path, &len, first);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sql);
	CU_ASSERT_EQUAL(len, strlen(content));
	CU_ASSERT_STRING_EQUAL(sql, content);
	CU_ASSERT_STRING_EQUAL(first, hex_of(content, strlen(content)));
	free(sql);

	/* one byte changed: "int" becomes "Int" */
	copy = strdup(content);
	copy[strlen("CREATE TABLE hotels (id ")] = 'I';
	write_file(dir, "001_hotels.sql", copy);
	sql = bh_migration_read(path, &len, changed);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sql);
	CU_ASSERT_EQUAL(len, strlen(content));
	CU_ASSERT_STRING_NOT_EQUAL(changed, first);
	free(sql);
	free(copy);

	/* restored: the same checksum as at first */
	write_file(dir, "001_hotels.sql", content);
	sql = bh_migration_read(path, &len, again);
	CU_ASSERT_PTR_NOT_NULL(sql);
	CU_ASSERT_STRING_EQUAL(again, first);
	free(sql);

	remove_tree(dir);
	free(dir);
}

static void
test_read_refuses_bad_files(void)
{
	char *dir = make_tmpdir(), path[4096];
	char checksum[BH_SHA256_HEX_LEN + 1];
	size_t len;
	int fd;

	/* one byte over the bound (a sparse file: nothing is written) */
	snprintf(path, sizeof(path), "%s/001_huge.sql", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(ftruncate(fd, (off_t)BH_MIGRATION_MAX_SIZE + 1) == 0);
	close(fd);
	CU_ASSERT_PTR_NULL(bh_migration_read(path, &len, checksum));

	/* a NUL byte would cut the SQL short */
	snprintf(path, sizeof(path), "%s/002_nul.sql", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(write(fd, "SELECT 1;\0DROP TABLE x;", 23) == 23);
	close(fd);
	CU_ASSERT_PTR_NULL(bh_migration_read(path, &len, checksum));

	/* missing, and a directory */
	snprintf(path, sizeof(path), "%s/003_missing.sql", dir);
	CU_ASSERT_PTR_NULL(bh_migration_read(path, &len, checksum));
	CU_ASSERT_PTR_NULL(bh_migration_read(dir, &len, checksum));

	/* an empty file is read (and warned about when applied) */
	write_file(dir, "004_empty.sql", "");
	snprintf(path, sizeof(path), "%s/004_empty.sql", dir);
	{
		char *sql = bh_migration_read(path, &len, checksum);

		CU_ASSERT_PTR_NOT_NULL(sql);
		CU_ASSERT_EQUAL(len, 0);
		CU_ASSERT_STRING_EQUAL(checksum, hex_of("", 0));
		free(sql);
	}

	remove_tree(dir);
	free(dir);
}

int
bh_test_register(void)
{
	static const CU_TestInfo sha256[] = {
		{ "FIPS 180-4 vectors", test_sha256_vectors },
		{ "a million 'a'", test_sha256_million_a },
		{ "padding boundaries", test_sha256_padding_boundaries },
		{ "incremental updates", test_sha256_incremental },
		CU_TEST_INFO_NULL,
	};
	static const CU_TestInfo scan[] = {
		{ "numeric order, other files ignored", test_scan_numeric_order },
		{ "duplicate numbers refused", test_scan_refuses_duplicate_numbers },
		{ "empty and missing directories", test_scan_empty_and_missing },
		CU_TEST_INFO_NULL,
	};
	static const CU_TestInfo readfile[] = {
		{ "checksum follows content", test_read_checksum_follows_content },
		{ "bad files refused", test_read_refuses_bad_files },
		CU_TEST_INFO_NULL,
	};
	int rc;

	if ((rc = bh_test_add_suite("sha256", sha256)) != CUE_SUCCESS ||
	    (rc = bh_test_add_suite("migration files", scan)) != CUE_SUCCESS ||
	    (rc = bh_test_add_suite("reading migrations", readfile)) !=
	    CUE_SUCCESS)
		return rc;
	return CUE_SUCCESS;
}
