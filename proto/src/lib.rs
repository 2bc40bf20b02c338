//! gRPC contracts of the campaign engine, generated at build time from the
//! `.proto` files beside this crate. Nothing generated is checked in.

/// `campaign.v1`: admin and player APIs of the campaign service.
pub mod campaign {
    pub mod v1 {
        tonic::include_proto!("campaign.v1");
    }
}

/// `coupon.v1`: templates, codes, issuance and the POS.
pub mod coupon {
    pub mod v1 {
        tonic::include_proto!("coupon.v1");
    }
}

/// Encoded `FileDescriptorSet` of every package here, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("engine_descriptor");
