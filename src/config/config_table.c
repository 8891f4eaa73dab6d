/* Every runtime setting of Omega, declared once. */
#include "config/config.h"
#include "config/profiles.h"

#include <stddef.h>

#define F(field) offsetof(omega_settings_t, field)
#define STRMAX(field) ((long long)sizeof(((omega_settings_t *)0)->field) - 1)

static const char *const accel_choices[] = {"auto", "gpu", "cpu", NULL};
static const char *const log_choices[] = {"debug", "info", "warn", "error", NULL};
static const char *const dtype_choices[] = {"auto", "bf16", "fp16", "fp32", "tf32", NULL};
static const char *const cpu_precision_choices[] = {"fp32", "bf16", "bf16x3", "int8", NULL};
static const char *const fsync_choices[] = {"always", "interval", NULL};
const char *const omega_profile_names[] = {"NONE", "HIGH_THROUGHPUT", "LOW_LATENCY", "MEMORY_CONSTRAINED",
                                           "HIGH_AVAILABILITY", NULL};

const omega_cfg_def_t omega_cfg_table[] = {
    /* accelerator and engine */
    {"OMEGA_ACCEL", OMEGA_CFG_ENUM, "auto", 0, 0, accel_choices, 0, F(omega_accel),
     "Device choice: auto (GPU when usable, else CPU), gpu (fail at start-up without a GPU), cpu (never touch CUDA)"},
    {"EMBED_PREFER_GPU", OMEGA_CFG_BOOL, "true", 0, 0, NULL, OMEGA_CFG_HOT, F(embed_prefer_gpu),
     "Route batches to the GPU when one is usable (false: CPU first)"},
    {"EMBED_GPU_SLOTS", OMEGA_CFG_INT, "2", 1, 64, NULL, OMEGA_CFG_HOT, F(embed_gpu_slots),
     "Batches in flight on the GPU at once (CUDA streams)"},
    {"EMBED_MAX_BATCH", OMEGA_CFG_INT, "64", 1, 4096, NULL, OMEGA_CFG_HOT, F(embed_max_batch),
     "Upper bound of sequences per batch; the adaptive ceiling moves below it"},
    {"EMBED_MAX_BATCH_TOKENS", OMEGA_CFG_INT, "16384", 16, 1 << 22, NULL, OMEGA_CFG_HOT, F(embed_max_batch_tokens),
     "Token budget of one batch (sum of sequence lengths)"},
    {"EMBED_BATCH_WINDOW_MS", OMEGA_CFG_INT, "0", 0, 1000, NULL, OMEGA_CFG_HOT, F(embed_batch_window_ms),
     "How long the batcher may wait for more requests before running a batch below the ceiling"},
    {"EMBED_ADAPTIVE_BATCHING", OMEGA_CFG_BOOL, "true", 0, 0, NULL, OMEGA_CFG_HOT, F(embed_adaptive_batching),
     "Steer the batch ceiling by measured p95 latency against ACCEL_TARGET_LAT_MS (false: fixed at EMBED_MAX_BATCH)"},
    {"ACCEL_TARGET_LAT_MS", OMEGA_CFG_INT, "100", 1, 600000, NULL, OMEGA_CFG_HOT, F(accel_target_lat_ms),
     "Target p95 latency of an embedding request, queueing included"},
    {"ACCEL_OOM_CPU_FALLBACK", OMEGA_CFG_BOOL, "true", 0, 0, NULL, OMEGA_CFG_HOT, F(accel_oom_cpu_fallback),
     "Retry a batch on the CPU when the GPU runs out of memory (false: answer 503)"},
    {"EMBED_CUDA_GRAPH_TOKENS", OMEGA_CFG_INT, "256", 0, 1 << 20, NULL, OMEGA_CFG_HOT, F(embed_cuda_graph_tokens),
     "GPU batches of at most this many tokens replay a CUDA graph of the forward pass, captured per batch shape on "
     "its second sighting (cuts launch overhead of small batches; 0: off)"},
    {"EMBED_GPU_DTYPE", OMEGA_CFG_ENUM, "auto", 0, 0, dtype_choices, 0, F(embed_gpu_dtype),
     "GPU precision: auto (bf16 on compute capability 8.0+, else fp16), bf16, fp16, fp32, or tf32 (fp32 storage, "
     "TF32 tensor-core GEMMs)"},
    {"EMBED_GPU_MAX_SLOTS", OMEGA_CFG_INT, "8", 1, 64, NULL, 0, F(embed_gpu_max_slots),
     "CUDA streams created at start-up: the most EMBED_GPU_SLOTS can be raised to without a restart"},
    {"OMEGA_GPU_DEVICE", OMEGA_CFG_INT, "0", 0, 63, NULL, 0, F(omega_gpu_device), "CUDA device index to use"},
    {"OMEGA_CUDA_PLUGIN", OMEGA_CFG_STRING, "", 0, STRMAX(omega_cuda_plugin), NULL, 0, F(omega_cuda_plugin),
     "Path of libomega-cuda.so (empty: next to the omega binary, then ../lib, then the library path)"},
    {"EMBED_QUEUE_CAPACITY", OMEGA_CFG_INT, "4096", 1, 1 << 24, NULL, OMEGA_CFG_HOT, F(embed_queue_capacity),
     "Sequences waiting at most; past it requests get 429 with Retry-After"},
    {"EMBED_THREADS", OMEGA_CFG_INT, "0", 0, 1024, NULL, 0, F(embed_threads),
     "CPU threads for inference (0: every online CPU)"},
    {"EMBED_CPU_PRECISION", OMEGA_CFG_ENUM, "fp32", 0, 0, cpu_precision_choices, 0, F(embed_cpu_precision),
     "CPU precision of the model's linear layers: fp32 (exact), bf16 (AMX or AVX512-BF16), bf16x3 (fp32 split into "
     "two bf16 parts, three AMX products: fp32-class accuracy, PyTorch's float32 matmul precision \"high\"), int8 "
     "(dynamic quantisation; AMX, VNNI or AVX2); weights are packed at start-up, and a mode the CPU cannot run stops "
     "the start with the reason"},
    {"OMEGA_REQUEST_TIMEOUT_MS", OMEGA_CFG_INT, "30000", 1, 3600000, NULL, OMEGA_CFG_HOT, F(omega_request_timeout_ms),
     "Default request deadline (a request's X-Omega-Timeout-Ms or timeout_ms overrides it); past it: 504"},
    /* server */
    {"OMEGA_MODEL", OMEGA_CFG_STRING, "", 0, STRMAX(omega_model), NULL, 0, F(omega_model),
     "Model folder to serve (omega serve --model)"},
    {"OMEGA_MODEL_NAME", OMEGA_CFG_STRING, "", 0, STRMAX(omega_model_name), NULL, 0, F(omega_model_name),
     "Model name reported by /info and /v1/embeddings (default: the folder's name)"},
    {"OMEGA_HOST", OMEGA_CFG_STRING, "127.0.0.1", 0, STRMAX(omega_host), NULL, 0, F(omega_host),
     "Address to listen on (0.0.0.0 for every interface)"},
    {"OMEGA_PORT", OMEGA_CFG_INT, "8080", 0, 65535, NULL, 0, F(omega_port), "TCP port (0: pick a free one)"},
    {"OMEGA_UNIX_SOCKET", OMEGA_CFG_STRING, "", 0, 107, NULL, 0, F(omega_unix_socket),
     "Also listen on this Unix socket path"},
    {"OMEGA_IO_THREADS", OMEGA_CFG_INT, "4", 1, 256, NULL, 0, F(omega_io_threads),
     "HTTP I/O threads (they never block on work)"},
    {"OMEGA_WORKERS", OMEGA_CFG_INT, "8", 1, 1024, NULL, 0, F(omega_workers),
     "Worker pool for blocking work: HMAC, tokenisation, JSON encoding"},
    {"OMEGA_WORKER_QUEUE", OMEGA_CFG_INT, "1024", 1, 1 << 20, NULL, 0, F(omega_worker_queue),
     "Tasks waiting for the worker pool at most; past it: 429"},
    {"OMEGA_MAX_BODY_BYTES", OMEGA_CFG_INT, "2097152", 1024, 1 << 30, NULL, OMEGA_CFG_HOT, F(omega_max_body_bytes),
     "Largest request body; past it: 413"},
    {"OMEGA_MAX_CONNECTIONS", OMEGA_CFG_INT, "4096", 16, 1 << 20, NULL, 0, F(omega_max_connections),
     "Open client connections at most; past it a new connection gets 503 and is closed at once"},
    {"OMEGA_MAX_CONNECTIONS_PER_IP", OMEGA_CFG_INT, "256", 0, 1 << 20, NULL, OMEGA_CFG_HOT,
     F(omega_max_connections_per_ip),
     "Open connections from one client address at most, past it 503 and closed (0: no limit; behind a load balancer "
     "every client has its address: raise it to the balancer's pool size)"},
    {"OMEGA_HTTP_HEAD_TIMEOUT_MS", OMEGA_CFG_INT, "10000", 100, 600000, NULL, OMEGA_CFG_HOT,
     F(omega_http_head_timeout_ms),
     "A new connection's first request head must arrive whole within this time; past it: 408 and closed"},
    {"OMEGA_HTTP_BODY_TIMEOUT_S", OMEGA_CFG_INT, "30", 1, 3600, NULL, OMEGA_CFG_HOT, F(omega_http_body_timeout_s),
     "Longest silence while a request is being received; past it the connection is closed"},
    {"OMEGA_HTTP_IDLE_TIMEOUT_S", OMEGA_CFG_INT, "60", 1, 3600, NULL, OMEGA_CFG_HOT, F(omega_http_idle_timeout_s),
     "How long a keep-alive connection may wait for its next request"},
    {"OMEGA_HTTP_MAX_HEAD_BYTES", OMEGA_CFG_INT, "16384", 1024, 49152, NULL, 0, F(omega_http_max_head_bytes),
     "Largest request head (request line and headers); past it: 431"},
    {"OMEGA_HTTP_MAX_TARGET_BYTES", OMEGA_CFG_INT, "8192", 256, 49152, NULL, 0, F(omega_http_max_target_bytes),
     "Longest request target (path and query); past it: 414"},
    {"OMEGA_MAX_HELD_RESPONSE_BYTES", OMEGA_CFG_INT, "268435456", 1048576, 1LL << 40, NULL, OMEGA_CFG_HOT,
     F(omega_max_held_response_bytes),
     "Bytes of answers waiting for clients that have not read them yet, at most; past it new requests get 503"},
    {"OMEGA_MAX_INPUTS", OMEGA_CFG_INT, "512", 1, 1 << 20, NULL, OMEGA_CFG_HOT, F(omega_max_inputs),
     "Most inputs in one request; past it: 422"},
    {"OMEGA_TOKENIZE_MAX_TOKENS", OMEGA_CFG_INT, "262144", 1, 1 << 26, NULL, OMEGA_CFG_HOT,
     F(omega_tokenize_max_tokens),
     "Most tokens one /tokenize request may return (about 40 bytes of JSON each; the default fits 512 inputs of 512 "
     "tokens); past it: 422"},
    {"OMEGA_RETRY_AFTER_S", OMEGA_CFG_INT, "1", 1, 3600, NULL, OMEGA_CFG_HOT, F(omega_retry_after_s),
     "Retry-After seconds sent with 429"},
    {"OMEGA_DRAIN_GRACE_MS", OMEGA_CFG_INT, "30000", 0, 3600000, NULL, OMEGA_CFG_HOT, F(omega_drain_grace_ms),
     "On SIGTERM, how long in-flight requests may take to finish"},
    {"OMEGA_HMAC_SECRET_FILE", OMEGA_CFG_STRING, "", 0, STRMAX(omega_hmac_secret_file), NULL, OMEGA_CFG_HOT,
     F(omega_hmac_secret_file), "File holding the HMAC secret of /invoke and /accel/config (re-read on reload)"},
    {"OMEGA_HMAC_SECRET", OMEGA_CFG_STRING, "", 0, STRMAX(omega_hmac_secret), NULL, OMEGA_CFG_HOT | OMEGA_CFG_SECRET,
     F(omega_hmac_secret), "The HMAC secret itself (prefer the file); no secret: gated routes answer 503"},
    {"OMEGA_HMAC_WINDOW_S", OMEGA_CFG_INT, "300", 1, 86400, NULL, OMEGA_CFG_HOT, F(omega_hmac_window_s),
     "Accepted clock skew of X-Omega-Timestamp, seconds either way"},
    {"OMEGA_HMAC_MAX_RATE", OMEGA_CFG_INT, "1000", 1, 1 << 20, NULL, OMEGA_CFG_HOT, F(omega_hmac_max_rate),
     "Signed requests per second the replay cache sustains: it remembers OMEGA_HMAC_MAX_RATE x (2 x "
     "OMEGA_HMAC_WINDOW_S + 1) nonces (about 90 bytes each when full); past that signed requests get 503"},
    {"OMEGA_NONCE_CACHE", OMEGA_CFG_INT, "0", 0, 1 << 24, NULL, OMEGA_CFG_HOT, F(omega_nonce_cache),
     "Nonces remembered for replay protection (0: sized from OMEGA_HMAC_MAX_RATE and OMEGA_HMAC_WINDOW_S)"},
    {"OMEGA_CONFIG_FILE", OMEGA_CFG_STRING, "", 0, STRMAX(omega_config_file), NULL, 0, F(omega_config_file),
     "KEY=VALUE file of settings, watched for changes (also --config)"},
    {"OMEGA_PROFILE", OMEGA_CFG_ENUM, "NONE", 0, 0, omega_profile_names, OMEGA_CFG_HOT, F(omega_profile),
     "Tuning preset applied over the defaults; any setting still overrides it"},
    {"OMEGA_LOG_LEVEL", OMEGA_CFG_ENUM, "info", 0, 0, log_choices, OMEGA_CFG_HOT, F(omega_log_level),
     "Log verbosity on stderr"},
    {"OMEGA_FAULT_INJECT", OMEGA_CFG_STRING, "", 0, STRMAX(omega_fault_inject), NULL, OMEGA_CFG_HOT,
     F(omega_fault_inject),
     "Test-only fault injection, e.g. batch_delay_ms:200,load_delay_ms:1000,cuda_oom:0.1,cuda_sticky:once,gpu_sim:1 "
     "(gpu_sim: a simulated GPU when none is usable; empty: none)"},
    /* vector search */
    {"OMEGA_DATA_DIR", OMEGA_CFG_STRING, "", 0, STRMAX(omega_data_dir), NULL, 0, F(omega_data_dir),
     "Folder of the vector collections (DIR/collections/NAME), reopened at start-up (empty: in memory only)"},
    {"OMEGA_INDEX_FSYNC", OMEGA_CFG_ENUM, "always", 0, 0, fsync_choices, 0, F(omega_index_fsync),
     "Collection log durability: always (fsync before every acknowledgement) or interval (fsync in the background)"},
    {"OMEGA_INDEX_FSYNC_INTERVAL_MS", OMEGA_CFG_INT, "1000", 1, 600000, NULL, 0, F(omega_index_fsync_interval_ms),
     "With OMEGA_INDEX_FSYNC=interval: how often the log is fsynced"},
    {"OMEGA_INDEX_MEMORY_LIMIT_MB", OMEGA_CFG_INT, "0", 0, 1 << 30, NULL, 0, F(omega_index_memory_limit_mb),
     "Memory each collection may use (vectors, graph, ids); an upsert past it gets 507 (0: no limit)"},
    {"OMEGA_INDEX_ACCEPT_LOSS", OMEGA_CFG_STRING, "", 0, STRMAX(omega_index_accept_loss), NULL, 0,
     F(omega_index_accept_loss),
     "Collections (comma-separated names, or *) that may start although their log shows acknowledged writes lost "
     "(missing, cut short, damaged, or not the log that follows the snapshot): each opens with what survives, logs "
     "a warning saying how many records were lost, and is rewritten consistent. Without it such a collection stops "
     "the start-up. Set it for one restart (omega serve --set OMEGA_INDEX_ACCEPT_LOSS=NAME), never as a default"},
    {"OMEGA_SEARCH_MAX_K", OMEGA_CFG_INT, "1000", 1, 10000, NULL, OMEGA_CFG_HOT, F(omega_search_max_k),
     "Largest k of a search; past it: 422"},
    {"OMEGA_SEARCH_MAX_BATCH", OMEGA_CFG_INT, "64", 1, 4096, NULL, OMEGA_CFG_HOT, F(omega_search_max_batch),
     "Most queries in one search request; past it: 422"},
};
const size_t omega_cfg_count = sizeof omega_cfg_table / sizeof omega_cfg_table[0];

/* Tuning profiles: values over the defaults, under everything else. */
static const omega_profile_entry_t high_throughput[] = {
    {"EMBED_MAX_BATCH", "256"},     {"EMBED_MAX_BATCH_TOKENS", "65536"}, {"EMBED_BATCH_WINDOW_MS", "5"},
    {"ACCEL_TARGET_LAT_MS", "500"}, {"EMBED_GPU_SLOTS", "4"},            {"EMBED_QUEUE_CAPACITY", "16384"},
    {NULL, NULL}};
static const omega_profile_entry_t low_latency[] = {
    {"EMBED_MAX_BATCH", "16"}, {"EMBED_BATCH_WINDOW_MS", "0"}, {"ACCEL_TARGET_LAT_MS", "25"},
    {"EMBED_GPU_SLOTS", "2"},  {"EMBED_QUEUE_CAPACITY", "1024"}, {NULL, NULL}};
static const omega_profile_entry_t memory_constrained[] = {
    {"EMBED_MAX_BATCH", "16"}, {"EMBED_MAX_BATCH_TOKENS", "4096"}, {"EMBED_GPU_SLOTS", "1"},
    {"EMBED_QUEUE_CAPACITY", "512"}, {"OMEGA_MAX_BODY_BYTES", "1048576"}, {NULL, NULL}};
static const omega_profile_entry_t high_availability[] = {
    {"ACCEL_OOM_CPU_FALLBACK", "true"}, {"EMBED_GPU_SLOTS", "2"}, {"OMEGA_DRAIN_GRACE_MS", "60000"},
    {"OMEGA_REQUEST_TIMEOUT_MS", "60000"}, {"EMBED_QUEUE_CAPACITY", "8192"}, {NULL, NULL}};

const omega_profile_entry_t *const omega_profiles[] = {NULL, high_throughput, low_latency, memory_constrained,
                                                       high_availability};
