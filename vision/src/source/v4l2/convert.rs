//! Camera pixel formats to RGB8: YUYV (4:2:2, BT.601 limited range, as webcams send it),
//! MJPEG (one JPEG per frame) and RGB3 (packed RGB24, maybe with row padding).

/// YUYV (Y0 U Y1 V per two pixels) to RGB8. `stride` is the driver's bytes per line (0: no
/// padding). `None` when `src` is too short for `width × height`.
pub fn yuyv_to_rgb(src: &[u8], width: u32, height: u32, stride: u32) -> Option<Vec<u8>> {
    let (w, h) = (width as usize, height as usize);
    let row_bytes = w.div_ceil(2).checked_mul(4)?;
    let stride = if stride == 0 { row_bytes } else { stride as usize };
    if stride < row_bytes || w == 0 || h == 0 {
        return None;
    }
    let needed = stride.checked_mul(h - 1)?.checked_add(row_bytes)?;
    if src.len() < needed {
        return None;
    }
    let mut out = vec![0u8; w.checked_mul(h)?.checked_mul(3)?];
    for (y, dst_row) in out.chunks_exact_mut(w * 3).enumerate() {
        let row = src.get(y * stride..y * stride + row_bytes)?;
        for (x, quad) in row.chunks_exact(4).enumerate() {
            let [y0, u, y1, v] = [quad[0], quad[1], quad[2], quad[3]];
            for (i, luma) in [y0, y1].into_iter().enumerate() {
                if let Some(px) = dst_row.get_mut((2 * x + i) * 3..(2 * x + i) * 3 + 3) {
                    px.copy_from_slice(&yuv_to_rgb(luma, u, v));
                }
            }
        }
    }
    Some(out)
}

/// One BT.601 limited-range YCbCr sample to RGB (fixed point, as in the V4L2 docs' formulas).
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = i32::from(y) - 16;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| (x >> 8).clamp(0, 255) as u8;
    [clamp(298 * c + 409 * e + 128), clamp(298 * c - 100 * d - 208 * e + 128), clamp(298 * c + 516 * d + 128)]
}

/// Packed RGB24 rows (each `stride` bytes, 0: no padding) to tight RGB8.
pub fn rgb3_to_rgb(src: &[u8], width: u32, height: u32, stride: u32) -> Option<Vec<u8>> {
    let (w, h) = (width as usize, height as usize);
    let row_bytes = w.checked_mul(3)?;
    let stride = if stride == 0 { row_bytes } else { stride as usize };
    if stride < row_bytes || w == 0 || h == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(row_bytes.checked_mul(h)?);
    for y in 0..h {
        out.extend_from_slice(src.get(y * stride..y * stride + row_bytes)?);
    }
    Some(out)
}

/// Decodes one MJPEG frame to RGB8: `(width, height, pixels)`.
pub fn decode_mjpeg(src: &[u8]) -> Result<(u32, u32, Vec<u8>), String> {
    let img = image::load_from_memory_with_format(src, image::ImageFormat::Jpeg).map_err(|e| e.to_string())?.into_rgb8();
    let (w, h) = img.dimensions();
    Ok((w, h, img.into_raw()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_known_pixels() {
        // Black, white, red, then mid grey / green; a 4×1 picture plus 2×1 on the next row
        // shows the stride is honoured (8 bytes of pixels, 4 of padding per row).
        assert_eq!(yuv_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(yuv_to_rgb(235, 128, 128), [255, 255, 255]);
        assert_eq!(yuv_to_rgb(81, 90, 240), [255, 0, 0]);
        assert_eq!(yuv_to_rgb(145, 54, 34), [0, 255, 1]);
        assert_eq!(yuv_to_rgb(41, 240, 110), [0, 0, 255]);
        let row0 = [16, 128, 235, 128, 81, 90, 81, 240];
        let row1 = [145, 54, 41, 34, 126, 128, 126, 128];
        let mut src = Vec::new();
        for row in [row0, row1] {
            src.extend_from_slice(&row);
            src.extend_from_slice(&[0xAA; 4]);
        }
        let rgb = yuyv_to_rgb(&src, 4, 2, 12).unwrap();
        assert_eq!(rgb.len(), 4 * 2 * 3);
        assert_eq!(&rgb[0..3], &[0, 0, 0]);
        assert_eq!(&rgb[3..6], &[255, 255, 255]);
        assert_eq!(&rgb[6..9], &[255, 0, 0]);
        assert_eq!(&rgb[9..12], &[255, 0, 0]);
        // Row 1, pixel 0: Y=145 with U=54, V=34 (pure green).
        assert_eq!(&rgb[12..15], &[0, 255, 1]);
        // Neutral chroma gives grey.
        let grey = &rgb[18..21];
        assert!(grey[0] == grey[1] && grey[1] == grey[2], "{grey:?}");
        // Tight rows (stride 0) and too-short buffers.
        assert_eq!(yuyv_to_rgb(&row0, 4, 1, 0).unwrap()[6..9], [255, 0, 0]);
        assert!(yuyv_to_rgb(&row0, 4, 2, 0).is_none(), "one row of data for two rows");
        assert!(yuyv_to_rgb(&row0, 4, 1, 4).is_none(), "stride below the row size");
        assert!(yuyv_to_rgb(&[], 0, 0, 0).is_none());
    }

    #[test]
    fn rgb3_drops_row_padding() {
        let src = [1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0];
        assert_eq!(rgb3_to_rgb(&src, 2, 2, 8).unwrap(), vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert!(rgb3_to_rgb(&src[..10], 2, 2, 8).is_none());
    }

    #[test]
    fn mjpeg_frames_decode() {
        let img = image::RgbImage::from_fn(16, 8, |x, _| if x < 8 { image::Rgb([250, 10, 10]) } else { image::Rgb([10, 10, 250]) });
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95).encode_image(&img).unwrap();
        let (w, h, rgb) = decode_mjpeg(&jpeg).unwrap();
        assert_eq!((w, h, rgb.len()), (16, 8, 16 * 8 * 3));
        let near = |a: &[u8], b: [u8; 3]| a.iter().zip(b).all(|(&x, y)| (i32::from(x) - i32::from(y)).abs() < 30);
        assert!(near(&rgb[0..3], [250, 10, 10]), "{:?}", &rgb[0..3]);
        assert!(near(&rgb[(15 * 3)..(16 * 3)], [10, 10, 250]), "{:?}", &rgb[45..48]);
        // A truncated frame (the camera's USB transfer cut short) is an error, not a panic.
        assert!(decode_mjpeg(&jpeg[..20]).is_err());
        assert!(decode_mjpeg(b"not a jpeg").is_err());
    }

    /// Many UVC cameras send MJPEG frames without Huffman tables (AVI1 "motion JPEG", which
    /// implies the standard tables). Rebuilds an encoded JPEG that way: DHT segments out, an
    /// AVI1 APP0 segment in.
    fn as_motion_jpeg(jpeg: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x08, b'A', b'V', b'I', b'1', 0, 0];
        let mut i = 2;
        while i + 4 <= jpeg.len() {
            let marker = jpeg[i + 1];
            if marker == 0xDA {
                out.extend_from_slice(&jpeg[i..]);
                break;
            }
            let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
            if marker != 0xC4 {
                out.extend_from_slice(&jpeg[i..i + 2 + len]);
            }
            i += 2 + len;
        }
        out
    }

    #[test]
    fn mjpeg_frames_without_huffman_tables_decode() {
        let img = image::RgbImage::from_fn(16, 16, |x, y| image::Rgb([(x * 16) as u8, (y * 16) as u8, 128]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&img).unwrap();
        let mjpeg = as_motion_jpeg(&jpeg);
        assert!(!mjpeg.windows(2).any(|w| w == [0xFF, 0xC4]), "DHT removed");
        let (_, _, want) = decode_mjpeg(&jpeg).unwrap();
        let (w, h, got) = decode_mjpeg(&mjpeg).unwrap();
        assert_eq!((w, h), (16, 16));
        assert_eq!(got, want);
    }
}
