/** statfs magic numbers of ext4, XFS and btrfs: file systems that take O_DIRECT, where a read past the page cache goes past it. */
export const DIRECT_IO_FILE_SYSTEMS: ReadonlySet<number> = new Set([0xef53, 0x58465342, 0x9123683e]);
