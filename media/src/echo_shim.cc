// A plain C API over the WebRTC audio-processing module 0.3 (Debian's
// libwebrtc-audio-processing-dev): echo cancellation (AEC, the desktop one), noise
// suppression and a high-pass filter for one 48 kHz mono voice stream, fed 10 ms frames of
// 16-bit samples. Used by media/src/echo.rs; compiled by media/build.rs.
//
// No C++ exception crosses into Rust: every entry point catches everything and returns
// PP_ECHO_EXCEPTION instead. Return values are 0 or the library's (negative)
// AudioProcessing::Error codes, or the two codes of this shim below.

#include <stddef.h>
#include <stdint.h>

#include <new>

#include "webrtc/common.h"
#include "webrtc/modules/audio_processing/include/audio_processing.h"

namespace {

constexpr int kRate = 48000;
constexpr size_t kFrame = kRate / 100;  // 10 ms

// Codes of this shim, outside the library's range (0 .. -13).
constexpr int PP_ECHO_EXCEPTION = -1000;
constexpr int PP_ECHO_BAD_ARGUMENT = -1001;

float to_float(int16_t s) { return static_cast<float>(s) / 32768.0f; }

int16_t to_s16(float v) {
  float x = v * 32768.0f;
  if (x >= 32767.0f) return 32767;
  if (x <= -32768.0f) return -32768;
  return static_cast<int16_t>(x >= 0.0f ? x + 0.5f : x - 0.5f);
}

}  // namespace

struct pp_echo {
  webrtc::AudioProcessing* apm = nullptr;
  webrtc::StreamConfig config{kRate, 1};
  float in[kFrame];
  float out[kFrame];
  ~pp_echo() { delete apm; }
};

extern "C" {

// ns_level: -1 = off, 0..3 = kLow..kVeryHigh. aec_level: 0..2 = kLow..kHigh suppression.
// delay_agnostic: let the AEC find the delay itself (the hint is then only a start).
// extended_filter: the longer filter that copes with more reverberation and delay error.
int pp_echo_create(int ns_level, int aec_level, int delay_agnostic, int extended_filter,
                   int high_pass, struct pp_echo** out) {
  if (out == nullptr) return PP_ECHO_BAD_ARGUMENT;
  *out = nullptr;
  if (ns_level < -1 || ns_level > 3 || aec_level < 0 || aec_level > 2)
    return PP_ECHO_BAD_ARGUMENT;
  try {
    webrtc::Config config;
    config.Set<webrtc::DelayAgnostic>(new webrtc::DelayAgnostic(delay_agnostic != 0));
    config.Set<webrtc::ExtendedFilter>(new webrtc::ExtendedFilter(extended_filter != 0));
    // The experimental AGC is on by default in Config but only acts with gain_control(),
    // which stays off here; turned off explicitly so nothing adjusts levels behind us.
    config.Set<webrtc::ExperimentalAgc>(new webrtc::ExperimentalAgc(false));
    pp_echo* e = new pp_echo();
    e->apm = webrtc::AudioProcessing::Create(config);
    if (e->apm == nullptr) {
      delete e;
      return webrtc::AudioProcessing::kCreationFailedError;
    }
    webrtc::ProcessingConfig pc;
    pc.input_stream() = e->config;
    pc.output_stream() = e->config;
    pc.reverse_input_stream() = e->config;
    pc.reverse_output_stream() = e->config;
    int err = e->apm->Initialize(pc);
    if (err == 0) err = e->apm->high_pass_filter()->Enable(high_pass != 0);
    if (err == 0) {
      err = e->apm->echo_cancellation()->set_suppression_level(
          static_cast<webrtc::EchoCancellation::SuppressionLevel>(aec_level));
    }
    if (err == 0) err = e->apm->echo_cancellation()->enable_metrics(true);
    if (err == 0) err = e->apm->echo_cancellation()->enable_delay_logging(true);
    if (err == 0) err = e->apm->echo_cancellation()->Enable(true);
    if (err == 0 && ns_level >= 0) {
      err = e->apm->noise_suppression()->set_level(
          static_cast<webrtc::NoiseSuppression::Level>(ns_level));
      if (err == 0) err = e->apm->noise_suppression()->Enable(true);
    }
    if (err != 0) {
      delete e;
      return err;
    }
    *out = e;
    return 0;
  } catch (const std::bad_alloc&) {
    return webrtc::AudioProcessing::kCreationFailedError;
  } catch (...) {
    return PP_ECHO_EXCEPTION;
  }
}

void pp_echo_destroy(struct pp_echo* e) {
  try {
    delete e;
  } catch (...) {
  }
}

// One 10 ms far-end frame (what is about to be played through the speaker).
int pp_echo_render(struct pp_echo* e, const int16_t* far, size_t n) {
  if (e == nullptr || far == nullptr || n != kFrame) return PP_ECHO_BAD_ARGUMENT;
  try {
    for (size_t i = 0; i < kFrame; ++i) e->in[i] = to_float(far[i]);
    const float* src[1] = {e->in};
    float* dest[1] = {e->out};
    return e->apm->ProcessReverseStream(src, e->config, e->config, dest);
  } catch (...) {
    return PP_ECHO_EXCEPTION;
  }
}

// One 10 ms near-end (microphone) frame, processed in place. delay_ms: the time from a
// render frame being handed to pp_echo_render to its sound reaching this capture call.
// *has_echo (may be NULL): whether the AEC considered this frame to hold echo.
int pp_echo_capture(struct pp_echo* e, int16_t* near, size_t n, int delay_ms, int* has_echo) {
  if (e == nullptr || near == nullptr || n != kFrame) return PP_ECHO_BAD_ARGUMENT;
  try {
    for (size_t i = 0; i < kFrame; ++i) e->in[i] = to_float(near[i]);
    // A delay outside 0..500 ms is clamped by the library, which then returns
    // kBadStreamParameterWarning; the frame is still processed.
    int err = e->apm->set_stream_delay_ms(delay_ms);
    if (err != 0 && err != webrtc::AudioProcessing::kBadStreamParameterWarning) return err;
    const float* src[1] = {e->in};
    float* dest[1] = {e->out};
    err = e->apm->ProcessStream(src, e->config, e->config, dest);
    if (err != 0) return err;
    for (size_t i = 0; i < kFrame; ++i) near[i] = to_s16(e->out[i]);
    if (has_echo != nullptr) *has_echo = e->apm->echo_cancellation()->stream_has_echo() ? 1 : 0;
    return 0;
  } catch (...) {
    return PP_ECHO_EXCEPTION;
  }
}

// The AEC's own estimates: echo return loss enhancement (dB, its long-term average) and the
// median / standard deviation of the echo delay it measured (ms; -1 before it has one).
int pp_echo_stats(struct pp_echo* e, int* erle_db, int* delay_median_ms, int* delay_std_ms) {
  if (e == nullptr || erle_db == nullptr || delay_median_ms == nullptr ||
      delay_std_ms == nullptr)
    return PP_ECHO_BAD_ARGUMENT;
  try {
    webrtc::EchoCancellation::Metrics m;
    int err = e->apm->echo_cancellation()->GetMetrics(&m);
    if (err != 0) return err;
    *erle_db = m.echo_return_loss_enhancement.average;
    return e->apm->echo_cancellation()->GetDelayMetrics(delay_median_ms, delay_std_ms);
  } catch (...) {
    return PP_ECHO_EXCEPTION;
  }
}

}  // extern "C"
