"""The `ref` dialect: its type (`!ref.ref<T>`), indexer and operations (and,
in `refhlo.compiler.dialect.asm`, their pretty assembly format)."""

from refhlo.compiler.dialect.types import (  # noqa: F401
    DYNAMIC,
    is_ref_type,
    ref_type,
    ref_value_type,
)
from refhlo.compiler.dialect.indexer import Indexer, IndexerError  # noqa: F401
from refhlo.compiler.dialect.ops import (  # noqa: F401
    ACCESS_OPS,
    REF_OPS,
    RefAddUpdateOp,
    RefEmptyOp,
    RefFreeOp,
    RefFreezeOp,
    RefGetOp,
    RefNewOp,
    RefSetOp,
    RefSwapOp,
    RefViewOp,
    is_discardable_attribute,
)
