#include "text/unicode.h"

#include <utf8proc.h>

static const uint32_t after_8_0[][3] = {
#include "text/unicode_age.inc"
};

/* Major Unicode version that assigned c, if after 8.0; else 0. */
static uint32_t age_after_8_0(uint32_t c) {
  size_t lo = 0, hi = sizeof after_8_0 / sizeof after_8_0[0];
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (c < after_8_0[mid][0])
      hi = mid;
    else if (c > after_8_0[mid][1])
      lo = mid + 1;
    else
      return after_8_0[mid][2];
  }
  return 0;
}

bool omega__uc_after_8_0(uint32_t c) { return c >= 0x0560 && age_after_8_0(c) != 0; }

bool omega__uc_after_9_0(uint32_t c) { return c >= 0x0560 && age_after_8_0(c) > 9; }

/* Category as HF's Unicode 8.0 tables have it. */
static utf8proc_category_t cat8(uint32_t c) {
  utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
  if (k != UTF8PROC_CATEGORY_CN && omega__uc_after_8_0(c))
    return UTF8PROC_CATEGORY_CN;
  return k;
}

bool omega__uc_is_control(uint32_t c) {
  if (c == '\t' || c == '\n' || c == '\r')
    return false;
  utf8proc_category_t k = cat8(c);
  return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO ||
         k == UTF8PROC_CATEGORY_CS;
}

bool omega__uc_is_whitespace(uint32_t c) {
  if ((c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85)
    return true;
  if (c < 0x80)
    return false;
  utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
  return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

bool omega__uc_is_punct(uint32_t c) {
  if (c < 0x80)
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
  utf8proc_category_t k = cat8(c);
  return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

bool omega__uc_is_nonspacing_mark(uint32_t c) { return c >= 0x80 && cat8(c) == UTF8PROC_CATEGORY_MN; }

bool omega__uc_is_cjk(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool omega__uc_is_word(uint32_t c) {
  if (c < 0x80)
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (c == 0x200C || c == 0x200D)
    return true;
  switch (utf8proc_category((utf8proc_int32_t)c)) {
  case UTF8PROC_CATEGORY_LU:
  case UTF8PROC_CATEGORY_LL:
  case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_LM:
  case UTF8PROC_CATEGORY_LO:
  case UTF8PROC_CATEGORY_MN:
  case UTF8PROC_CATEGORY_MC:
  case UTF8PROC_CATEGORY_ME:
  case UTF8PROC_CATEGORY_ND:
  case UTF8PROC_CATEGORY_NL:
  case UTF8PROC_CATEGORY_PC:
    return true;
  default:
    return false;
  }
}

int omega__uc_lower(uint32_t c, uint32_t out[2]) {
  if (c < 0x80) {
    out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    return 1;
  }
  /* The one unconditional multi-character lowercase mapping in SpecialCasing.txt. */
  if (c == 0x130) {
    out[0] = 'i';
    out[1] = 0x307;
    return 2;
  }
  out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
  return 1;
}

int omega__uc_nfd(uint32_t c, uint32_t out[OMEGA_UC_MAX_DECOMP]) {
  if (c < 0xC0 || omega__uc_after_8_0(c)) {
    out[0] = c;
    return 1;
  }
  int boundclass = UTF8PROC_BOUNDCLASS_START;
  utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)c, (utf8proc_int32_t *)out,
                                               OMEGA_UC_MAX_DECOMP, UTF8PROC_DECOMPOSE, &boundclass);
  if (n <= 0 || n > OMEGA_UC_MAX_DECOMP) {
    out[0] = c;
    return 1;
  }
  return (int)n;
}

int omega__uc_ccc(uint32_t c) {
  if (c < 0x300)
    return 0;
  return utf8proc_get_property((utf8proc_int32_t)c)->combining_class;
}
