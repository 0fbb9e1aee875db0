/*
 * main.c - bellhop-reports, PDFs from templates: its route (relative to
 * the base path, /reports by default) and its settings.  /health and
 * /ready come with the runtime; the service keeps no state.
 *
 * POST /{template} with the template's JSON data answers the PDF.  The
 * templates are read and checked at start (a broken one stops the
 * program, saying which file and what is wrong), and again by each new
 * worker, so that SIGHUP (fresh workers) picks up edited templates; a
 * worker that finds them broken keeps the ones checked at start.
 */
#include <stdio.h>
#include <string.h>

#include "reports.h"

#ifndef BH_DEFAULT_TEMPLATE_DIR
#define BH_DEFAULT_TEMPLATE_DIR "handlers/reports/templates"
#endif

/* Beside the templates: DejaVu Sans cut to the scripts receipts print
 * (make-font says why).  No bold face by default: bold is drawn from the
 * regular one, so each PDF embeds one font (reports.md has the figures). */
#define DEFAULT_FONT_FILE "DejaVuSans-bellhop.ttf"
#define DEFAULT_FONT_BOLD ""

static struct template_set templates;

static const bh_param report_params[] = {
	{ "template", BH_PATH, BH_STRING, true, 1, 255, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

/* POST /{template}: the data, checked against the template's fields,
 * drawn as a PDF. */
static int
report_post(bh_request *req)
{
	const char *name = bh_arg_str(req, "template");
	const struct template *t;
	char *pdf, *disposition;
	size_t len;

	if (!template_name_valid(name))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "template", "a template name is 1 to %d of a-z, 0-9, _ "
		    "and -", REPORT_NAME_MAX);
	if ((t = template_find(&templates, name)) == NULL)
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "there is no template %s", name);
	if (req->json == NULL && !(req->content_type != NULL &&
	    (strcmp(req->content_type, "application/json") == 0)))
		return bh_problem(req, 415, BH_PROBLEM_UNSUPPORTED_MEDIA_TYPE,
		    NULL, "the request body must be application/json");
	if (req->json == NULL)
		return bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, NULL,
		    "the request body must be a JSON object");
	if (template_check_data(req, t, req->json) == -1)
		return req->status;
	switch (render_pdf(req->pool, t, req->json, &pdf, &len)) {
	case RENDER_OK:
		break;
	case RENDER_TOO_LONG:
		return bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, NULL,
		    "the document would be longer than %d pages",
		    REPORT_MAX_PAGES);
	case RENDER_FAILED:
		return bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
		    "the document could not be drawn");
	}
	disposition = bh_psprintf(req->pool, "inline; filename=\"%s.pdf\"",
	    name);
	bh_add_header(req, "Content-Disposition", disposition);
	bh_add_header(req, "Cache-Control", "no-store");
	return bh_send(req, 200, "application/pdf", pdf, len);
}

static const bh_route routes[] = {
	{ BH_POST, "/{template}", report_post, report_params, BH_TOKEN,
	    "reports:render" },
	{ 0, NULL, NULL, NULL, BH_ACCESS_UNDECLARED, NULL }
};

/* Messages of configure: static, as bh_main wants them. */
static char config_error[1024];
static char default_font[4096];

static int
configure(const char **err)
{
	long long compress;
	const bh_int_setting ints[] = {
		{ "BH_REPORTS_COMPRESS", 1, 0, 1, &compress },
		{ NULL, 0, 0, 0, NULL }
	};

	reports_cfg.template_dir = bh_env_str("BH_REPORTS_TEMPLATE_DIR",
	    BH_DEFAULT_TEMPLATE_DIR);
	snprintf(default_font, sizeof(default_font), "%s/%s",
	    reports_cfg.template_dir, DEFAULT_FONT_FILE);
	reports_cfg.font = bh_env_str("BH_REPORTS_FONT", default_font);
	reports_cfg.font_bold = bh_env_str("BH_REPORTS_FONT_BOLD",
	    DEFAULT_FONT_BOLD);
	if (bh_env_ints(ints, err) == -1)
		return -1;
	reports_cfg.compress = compress == 1;
	/* Everything checked now, so that nothing broken starts serving. */
	if (template_set_load(reports_cfg.template_dir, &templates,
	    config_error, sizeof(config_error)) == -1 ||
	    render_init(config_error, sizeof(config_error)) == -1) {
		*err = config_error;
		return -1;
	}
	render_fini();
	return 0;
}

static int
worker_init(void)
{
	struct template_set fresh;
	char err[1024];

	if (template_set_load(reports_cfg.template_dir, &fresh, err,
	    sizeof(err)) == 0) {
		template_set_free(&templates);
		templates = fresh;
	} else
		bh_log(BH_LOG_ERROR, "templates: %s; keeping the ones loaded "
		    "at start", err);
	if (render_init(err, sizeof(err)) == -1) {
		bh_log(BH_LOG_ERROR, "fonts: %s", err);
		return -1;
	}
	return 0;
}

static const bh_service service = {
	.name = "reports",
	.routes = routes,
	.uses_db = false,
	.worker_init = worker_init,
	.configure = configure,
	.commands = NULL,
};

int
main(int argc, char **argv)
{
	return bh_main(&service, argc, argv);
}
