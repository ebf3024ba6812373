/* text: a growing string of space-separated words, used by the generators to build prompts and sentences.
 * Every word (a run of letters, or one punctuation mark) is separated from the next by one space, so that the
 * word-level tokenizer's pieces and this module's word count agree: n_words is the index the next word gets.
 * Out-of-memory is sticky: the text stops growing and text_ok() turns false; callers check once at the end. */
#ifndef ELMS_TEXT_H
#define ELMS_TEXT_H

#include <stddef.h>

typedef struct Text {
    char *s;      /* (cap) NUL-terminated */
    size_t len;
    size_t cap;
    int n_words;  /* words appended so far */
    int oom;      /* an allocation failed */
} Text;

void text_init(Text *t);
void text_free(Text *t);
/* text_clear: empty the text (keeps the buffer). */
void text_clear(Text *t);
/* text_add: append the space-separated words of s. */
void text_add(Text *t, const char *s);
/* text_addf: append the words of a printf-formatted string. */
void text_addf(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* text_ok: 1 unless an allocation failed. */
int text_ok(const Text *t);
/* text_dup: a malloc'd copy of the text ("" when empty), or NULL when out of memory. */
char *text_dup(const Text *t);
/* text_count_words: number of space-separated words in s. */
int text_count_words(const char *s);

#endif
