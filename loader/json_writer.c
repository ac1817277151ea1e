// SPDX-License-Identifier: GPL-2.0
/* A small streaming JSON writer; see json_writer.h. */
#include <math.h>
#include <stdlib.h>

#include "json_writer.h"

void jw_init(struct json_writer *w, FILE *f)
{
	w->f = f;
	w->depth = 0;
	w->first[0] = true;
	w->after_key = false;
}

/* Before any value or key: the comma that separates it from the last. */
static void jw_sep(struct json_writer *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (!w->first[w->depth])
		fputc(',', w->f);
	w->first[w->depth] = false;
}

static void jw_open(struct json_writer *w, char c)
{
	jw_sep(w);
	fputc(c, w->f);
	/* A caller's bug, not input: nothing written nests this deep. */
	if (w->depth == JW_MAX_DEPTH - 1) {
		fputs("json_writer: nested too deep\n", stderr);
		abort();
	}
	w->depth++;
	w->first[w->depth] = true;
}

static void jw_close(struct json_writer *w, char c)
{
	fputc(c, w->f);
	if (w->depth > 0)
		w->depth--;
	if (!w->depth)
		fputc('\n', w->f);
}

void jw_start_object(struct json_writer *w)
{
	jw_open(w, '{');
}

void jw_end_object(struct json_writer *w)
{
	jw_close(w, '}');
}

void jw_start_array(struct json_writer *w)
{
	jw_open(w, '[');
}

void jw_end_array(struct json_writer *w)
{
	jw_close(w, ']');
}

static void jw_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void jw_key(struct json_writer *w, const char *key)
{
	jw_sep(w);
	jw_quoted(w->f, key);
	fputc(':', w->f);
	w->after_key = true;
}

void jw_string(struct json_writer *w, const char *s)
{
	jw_sep(w);
	jw_quoted(w->f, s);
}

void jw_int(struct json_writer *w, long long v)
{
	jw_sep(w);
	fprintf(w->f, "%lld", v);
}

void jw_uint(struct json_writer *w, unsigned long long v)
{
	jw_sep(w);
	fprintf(w->f, "%llu", v);
}

void jw_float(struct json_writer *w, const char *fmt, double v)
{
	if (!isfinite(v)) {
		jw_null(w);
		return;
	}
	jw_sep(w);
	fprintf(w->f, fmt, v);
}

void jw_bool(struct json_writer *w, bool v)
{
	jw_sep(w);
	fputs(v ? "true" : "false", w->f);
}

void jw_null(struct json_writer *w)
{
	jw_sep(w);
	fputs("null", w->f);
}

void jw_string_field(struct json_writer *w, const char *key, const char *s)
{
	jw_key(w, key);
	jw_string(w, s);
}

void jw_int_field(struct json_writer *w, const char *key, long long v)
{
	jw_key(w, key);
	jw_int(w, v);
}

void jw_uint_field(struct json_writer *w, const char *key, unsigned long long v)
{
	jw_key(w, key);
	jw_uint(w, v);
}

void jw_float_field(struct json_writer *w, const char *key, const char *fmt, double v)
{
	jw_key(w, key);
	jw_float(w, fmt, v);
}

void jw_bool_field(struct json_writer *w, const char *key, bool v)
{
	jw_key(w, key);
	jw_bool(w, v);
}
