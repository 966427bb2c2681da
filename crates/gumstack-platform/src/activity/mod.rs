//! The activity log of tool calls (SPEC §9). `reading`: who may see which calls, the filters,
//! the stats and the streamed CSV export that the pages and the JSON API share.

pub(crate) mod reading;
