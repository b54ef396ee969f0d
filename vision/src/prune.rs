//! Pruning an ONNX model to the outputs the pipeline reads, before the session is built.
//!
//! ONNX Runtime runs every node of a graph on each call, even when the caller asks for only
//! some outputs. The BlazePose landmark models carry heads this pipeline never reads (the
//! 256×256 segmentation mask, the 64×64×39 heatmap, world landmarks): about 30 % of the nodes
//! and half of the lite model's run time. [`prune_outputs`] drops the graph outputs that are
//! not wanted, every node that does not lead to a wanted output, and the weights only those
//! nodes used. The model file on disk is not changed (its checksum stays valid).
//!
//! The model is edited at the protobuf wire level, touching only what pruning needs (the
//! graph's nodes, initializers, inputs and outputs): every other field is copied byte for byte.

use std::collections::HashSet;

/// Why a model could not be pruned. The bytes are then malformed or not a model we can edit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PruneError {
    #[error("the model is not valid protobuf: {0}")]
    Malformed(&'static str),
    #[error("the model has no graph")]
    NoGraph,
    #[error("the model has no output named {0}")]
    UnknownOutput(String),
    #[error("the model has a {0} node (its subgraphs may use any tensor), so it is not pruned")]
    HasSubgraphs(String),
}

/// Field numbers of onnx.proto that pruning reads.
mod field {
    pub const MODEL_GRAPH: u64 = 7;
    pub const GRAPH_NODE: u64 = 1;
    pub const GRAPH_INITIALIZER: u64 = 5;
    pub const GRAPH_INPUT: u64 = 11;
    pub const GRAPH_OUTPUT: u64 = 12;
    pub const GRAPH_SPARSE_INITIALIZER: u64 = 15;
    pub const NODE_INPUT: u64 = 1;
    pub const NODE_OUTPUT: u64 = 2;
    pub const NODE_OP_TYPE: u64 = 4;
    pub const TENSOR_NAME: u64 = 8;
    pub const VALUE_INFO_NAME: u64 = 1;
    pub const SPARSE_VALUES: u64 = 1;
}

const LEN: u8 = 2;

/// One field of a message: its number, wire type, payload, and the whole encoded entry.
#[derive(Debug, Clone, Copy)]
struct Field<'a> {
    number: u64,
    wire: u8,
    payload: &'a [u8],
    raw: &'a [u8],
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, PruneError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos).ok_or(PruneError::Malformed("truncated varint"))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(PruneError::Malformed("varint longer than 10 bytes"))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The fields of one message, in order.
fn fields(buf: &[u8]) -> Result<Vec<Field<'_>>, PruneError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let key = varint(buf, &mut pos)?;
        let (number, wire) = (key >> 3, (key & 7) as u8);
        if number == 0 {
            return Err(PruneError::Malformed("field number 0"));
        }
        let len = match wire {
            0 => {
                varint(buf, &mut pos)?;
                0
            }
            1 => 8,
            5 => 4,
            LEN => usize::try_from(varint(buf, &mut pos)?).map_err(|_| PruneError::Malformed("length too large"))?,
            _ => return Err(PruneError::Malformed("unsupported wire type")),
        };
        let body = pos;
        pos = pos.checked_add(len).filter(|&end| end <= buf.len()).ok_or(PruneError::Malformed("field runs past the end"))?;
        let payload = if wire == LEN { &buf[body..pos] } else { &[][..] };
        out.push(Field { number, wire, payload, raw: &buf[start..pos] });
    }
    Ok(out)
}

/// The UTF-8 strings of the length-delimited fields numbered `number`.
fn strings<'a>(msg: &[Field<'a>], number: u64) -> Result<Vec<&'a str>, PruneError> {
    msg.iter()
        .filter(|f| f.number == number && f.wire == LEN)
        .map(|f| std::str::from_utf8(f.payload).map_err(|_| PruneError::Malformed("name is not UTF-8")))
        .collect()
}

/// The first string field `number` of the message in `payload` ("" when absent).
fn name_of(payload: &[u8], number: u64) -> Result<&str, PruneError> {
    Ok(strings(&fields(payload)?, number)?.into_iter().next().unwrap_or(""))
}

/// The name of a graph field holding a weight (dense, or sparse: named after its `values`).
fn initializer_name<'a>(f: &Field<'a>) -> Result<Option<&'a str>, PruneError> {
    match (f.number, f.wire) {
        (field::GRAPH_INITIALIZER, LEN) => Ok(Some(name_of(f.payload, field::TENSOR_NAME)?)),
        (field::GRAPH_SPARSE_INITIALIZER, LEN) => {
            match fields(f.payload)?.iter().find(|v| v.number == field::SPARSE_VALUES && v.wire == LEN) {
                Some(v) => Ok(Some(name_of(v.payload, field::TENSOR_NAME)?)),
                None => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

struct Node<'a> {
    inputs: Vec<&'a str>,
    outputs: Vec<&'a str>,
}

/// What pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneStats {
    pub nodes_before: usize,
    pub nodes_after: usize,
    pub initializers_removed: usize,
    pub outputs_removed: usize,
}

/// Returns the model in `bytes` reduced to the graph outputs named in `keep` (see the module
/// docs), with what was removed.
pub fn prune_outputs(bytes: &[u8], keep: &[&str]) -> Result<(Vec<u8>, PruneStats), PruneError> {
    let model = fields(bytes)?;
    let mut graphs = model.iter().filter(|f| f.number == field::MODEL_GRAPH && f.wire == LEN);
    let graph_field = graphs.next().ok_or(PruneError::NoGraph)?;
    if graphs.next().is_some() {
        return Err(PruneError::Malformed("more than one graph"));
    }
    let graph = fields(graph_field.payload)?;

    let outputs: Vec<&str> = graph
        .iter()
        .filter(|f| f.number == field::GRAPH_OUTPUT && f.wire == LEN)
        .map(|f| name_of(f.payload, field::VALUE_INFO_NAME))
        .collect::<Result<_, PruneError>>()?;
    if let Some(missing) = keep.iter().find(|k| !outputs.contains(k)) {
        return Err(PruneError::UnknownOutput((*missing).to_string()));
    }

    let mut nodes = Vec::new();
    for f in graph.iter().filter(|f| f.number == field::GRAPH_NODE && f.wire == LEN) {
        let node = fields(f.payload)?;
        if let Some(op) = strings(&node, field::NODE_OP_TYPE)?.first()
            && matches!(*op, "If" | "Loop" | "Scan")
        {
            return Err(PruneError::HasSubgraphs((*op).to_string()));
        }
        nodes.push(Node { inputs: strings(&node, field::NODE_INPUT)?, outputs: strings(&node, field::NODE_OUTPUT)? });
    }

    // Walk back from the wanted outputs: a node is needed when it produces a needed tensor.
    let mut needed: HashSet<&str> = keep.iter().copied().collect();
    let mut keep_node = vec![false; nodes.len()];
    let mut changed = true;
    while changed {
        changed = false;
        // Nodes are normally in topological order, so one backwards pass usually suffices.
        for (i, node) in nodes.iter().enumerate().rev() {
            if !keep_node[i] && node.outputs.iter().any(|o| needed.contains(o)) {
                keep_node[i] = true;
                changed = true;
                needed.extend(node.inputs.iter().copied().filter(|n| !n.is_empty()));
            }
        }
    }

    // Weights only removed nodes used. Old models also list their weights as graph inputs:
    // those entries go too, or they would become inputs the caller must feed.
    let mut removed_initializers: HashSet<&str> = HashSet::new();
    for f in &graph {
        if let Some(name) = initializer_name(f)?
            && !needed.contains(name)
        {
            removed_initializers.insert(name);
        }
    }

    let stats = PruneStats {
        nodes_before: nodes.len(),
        nodes_after: keep_node.iter().filter(|k| **k).count(),
        initializers_removed: removed_initializers.len(),
        outputs_removed: outputs.iter().filter(|n| !keep.contains(n)).count(),
    };
    // The kept graph entries, written straight into the output below (no second copy).
    let mut new_graph: Vec<&[u8]> = Vec::with_capacity(graph.len());
    let mut node_index = 0;
    for f in &graph {
        let keep_field = if f.wire != LEN {
            true
        } else {
            match f.number {
                field::GRAPH_NODE => {
                    node_index += 1;
                    keep_node.get(node_index - 1).copied().unwrap_or(true)
                }
                field::GRAPH_OUTPUT => keep.contains(&name_of(f.payload, field::VALUE_INFO_NAME)?),
                field::GRAPH_INPUT => !removed_initializers.contains(name_of(f.payload, field::VALUE_INFO_NAME)?),
                field::GRAPH_INITIALIZER | field::GRAPH_SPARSE_INITIALIZER => {
                    initializer_name(f)?.is_none_or(|name| !removed_initializers.contains(name))
                }
                _ => true,
            }
        };
        if keep_field {
            new_graph.push(f.raw);
        }
    }
    let mut out = Vec::with_capacity(bytes.len());
    for f in &model {
        if f.number == field::MODEL_GRAPH && f.wire == LEN {
            put_varint(&mut out, (field::MODEL_GRAPH << 3) | u64::from(LEN));
            put_varint(&mut out, new_graph.iter().map(|r| r.len() as u64).sum());
            for raw in &new_graph {
                out.extend_from_slice(raw);
            }
        } else {
            out.extend_from_slice(f.raw);
        }
    }
    Ok((out, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len_field(out: &mut Vec<u8>, number: u64, payload: &[u8]) {
        put_varint(out, (number << 3) | u64::from(LEN));
        put_varint(out, payload.len() as u64);
        out.extend_from_slice(payload);
    }

    fn node(inputs: &[&str], outputs: &[&str], op: &str) -> Vec<u8> {
        let mut n = Vec::new();
        for i in inputs {
            len_field(&mut n, field::NODE_INPUT, i.as_bytes());
        }
        for o in outputs {
            len_field(&mut n, field::NODE_OUTPUT, o.as_bytes());
        }
        len_field(&mut n, field::NODE_OP_TYPE, op.as_bytes());
        n
    }

    fn named(number: u64, name: &str) -> Vec<u8> {
        let mut v = Vec::new();
        len_field(&mut v, number, name.as_bytes());
        v
    }

    /// x → a → out_a;  a + w_b → b → out_b;  x + w_c → c → out_c. Weights w_b, w_c; an
    /// ir_version varint before the graph and a doc string after, to check they survive.
    fn model(extra_node: Option<Vec<u8>>) -> Vec<u8> {
        let mut g = Vec::new();
        len_field(&mut g, field::GRAPH_NODE, &node(&["x"], &["a"], "Relu"));
        len_field(&mut g, field::GRAPH_NODE, &node(&["a", "w_b"], &["b"], "Add"));
        len_field(&mut g, field::GRAPH_NODE, &node(&["x", "w_c"], &["c"], "Mul"));
        if let Some(n) = extra_node {
            len_field(&mut g, field::GRAPH_NODE, &n);
        }
        len_field(&mut g, field::GRAPH_INITIALIZER, &named(field::TENSOR_NAME, "w_b"));
        len_field(&mut g, field::GRAPH_INITIALIZER, &named(field::TENSOR_NAME, "w_c"));
        for input in ["x", "w_b", "w_c"] {
            len_field(&mut g, field::GRAPH_INPUT, &named(field::VALUE_INFO_NAME, input));
        }
        for out in ["a", "b", "c"] {
            len_field(&mut g, field::GRAPH_OUTPUT, &named(field::VALUE_INFO_NAME, out));
        }
        let mut m = vec![0x08, 7]; // ir_version = 7
        len_field(&mut m, field::MODEL_GRAPH, &g);
        len_field(&mut m, 6, b"doc"); // doc_string
        m
    }

    /// (node outputs, initializer names, input names, output names) of a model.
    fn summary(bytes: &[u8]) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
        let m = fields(bytes).unwrap();
        let g = fields(m.iter().find(|f| f.number == field::MODEL_GRAPH).unwrap().payload).unwrap();
        let names = |number: u64, inner: u64| -> Vec<String> {
            g.iter().filter(|f| f.number == number).map(|f| name_of(f.payload, inner).unwrap().to_string()).collect()
        };
        (
            names(field::GRAPH_NODE, field::NODE_OUTPUT),
            names(field::GRAPH_INITIALIZER, field::TENSOR_NAME),
            names(field::GRAPH_INPUT, field::VALUE_INFO_NAME),
            names(field::GRAPH_OUTPUT, field::VALUE_INFO_NAME),
        )
    }

    #[test]
    fn keeps_only_what_leads_to_the_wanted_outputs() {
        let (pruned, stats) = prune_outputs(&model(None), &["b"]).unwrap();
        let (nodes, inits, inputs, outputs) = summary(&pruned);
        assert_eq!(nodes, ["a", "b"]);
        assert_eq!(inits, ["w_b"]);
        assert_eq!(inputs, ["x", "w_b"]);
        assert_eq!(outputs, ["b"]);
        assert_eq!(stats, PruneStats { nodes_before: 3, nodes_after: 2, initializers_removed: 1, outputs_removed: 2 });
        // Fields pruning does not touch are kept byte for byte.
        assert_eq!(&pruned[..2], &[0x08, 7]);
        assert!(pruned.ends_with(&[0x32, 3, b'd', b'o', b'c']));
    }

    #[test]
    fn keeping_everything_changes_nothing() {
        let m = model(None);
        let (pruned, stats) = prune_outputs(&m, &["a", "b", "c"]).unwrap();
        assert_eq!(pruned, m);
        assert_eq!((stats.nodes_before, stats.nodes_after), (3, 3));
    }

    #[test]
    fn out_of_order_nodes_are_still_found() {
        // A producer listed after its consumer: the backwards walk must repeat until stable.
        let mut g = Vec::new();
        len_field(&mut g, field::GRAPH_NODE, &node(&["early"], &["late"], "Relu"));
        len_field(&mut g, field::GRAPH_NODE, &node(&["x"], &["early"], "Relu"));
        len_field(&mut g, field::GRAPH_NODE, &node(&["x"], &["other"], "Relu"));
        len_field(&mut g, field::GRAPH_OUTPUT, &named(field::VALUE_INFO_NAME, "late"));
        len_field(&mut g, field::GRAPH_OUTPUT, &named(field::VALUE_INFO_NAME, "other"));
        let mut m = Vec::new();
        len_field(&mut m, field::MODEL_GRAPH, &g);
        let (pruned, _) = prune_outputs(&m, &["late"]).unwrap();
        assert_eq!(summary(&pruned).0, ["late", "early"]);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let m = model(None);
        assert_eq!(prune_outputs(&m, &["nope"]).unwrap_err(), PruneError::UnknownOutput("nope".into()));
        assert_eq!(prune_outputs(&[0x08, 7], &["a"]).unwrap_err(), PruneError::NoGraph);
        for cut in [1, 3, m.len() / 2, m.len() - 1] {
            assert!(matches!(prune_outputs(&m[..cut], &["a"]), Err(PruneError::Malformed(_))), "cut at {cut}");
        }
        assert!(matches!(prune_outputs(b"not a model at all", &["a"]), Err(PruneError::Malformed(_))));
        let with_loop = model(Some(node(&["x"], &["d"], "Loop")));
        assert_eq!(prune_outputs(&with_loop, &["a"]).unwrap_err(), PruneError::HasSubgraphs("Loop".into()));
    }
}
