/**
 * Request parameters that OpenAI-compatible servers accept beyond OpenAI's own, so that `params: { top_k: 40 }` is
 * sent as the user meant rather than refused as a near-miss of `top_p`. From the servers' documentation: vLLM's
 * "Extra Parameters" of its OpenAI-compatible server, llama.cpp server's /v1/chat/completions options, Ollama's
 * model options, and OpenRouter's extra sampling parameters.
 */
const vllm = [
  'best_of', 'use_beam_search', 'top_k', 'min_p', 'repetition_penalty', 'length_penalty', 'early_stopping',
  'stop_token_ids', 'include_stop_str_in_output', 'ignore_eos', 'min_tokens', 'skip_special_tokens',
  'spaces_between_special_tokens', 'truncate_prompt_tokens', 'prompt_logprobs', 'echo', 'add_generation_prompt',
  'continue_final_message', 'add_special_tokens', 'documents', 'chat_template', 'chat_template_kwargs',
  'mm_processor_kwargs', 'guided_json', 'guided_regex', 'guided_choice', 'guided_grammar', 'guided_decoding_backend',
  'guided_whitespace_pattern', 'structured_outputs', 'priority', 'request_id', 'return_tokens_as_token_ids',
  'bad_words', 'allowed_token_ids', 'vllm_xargs',
];
const llamaCpp = [
  'typical_p', 'repeat_penalty', 'repeat_last_n', 'penalize_nl', 'mirostat', 'mirostat_tau',
  'mirostat_eta', 'tfs_z', 'dynatemp_range', 'dynatemp_exponent', 'xtc_probability', 'xtc_threshold',
  'dry_multiplier', 'dry_base', 'dry_allowed_length', 'dry_penalty_last_n', 'dry_sequence_breakers', 'n_predict',
  'n_probs', 'n_keep', 'min_keep', 'grammar', 'json_schema', 'cache_prompt', 'samplers', 'id_slot', 'n_indent',
  't_max_predict_ms', 'return_tokens', 'post_sampling_probs',
];
const ollama = [
  'num_ctx', 'num_predict', 'num_keep', 'num_batch', 'num_gpu', 'main_gpu', 'num_thread', 'penalize_newline',
  'keep_alive', 'think', 'options', 'low_vram', 'use_mmap', 'use_mlock', 'numa',
];
const openRouter = ['top_a', 'transforms', 'models', 'route', 'provider', 'reasoning', 'usage', 'plugins'];

export const serverExtraParams: ReadonlySet<string> = new Set([...vllm, ...llamaCpp, ...ollama, ...openRouter]);
