"""The assignment's input pipeline, kept so the report can show where the time goes.

`pipeline = "dataloader"` feeds training the way the 2021 notebook did: a Dataset that turns each
uint8 image into a PIL image, then ToTensor() and Normalize(), batched by a DataLoader with worker
processes. It visits the examples in the same seeded order as the default tensor pipeline, so the two
differ in speed, not in what they compute.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class AssignmentDataset(Dataset):
    """torchvision's FashionMNIST item path: uint8 array → PIL image → ToTensor → Normalize."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        from torchvision import transforms

        self.images, self.labels = images, labels
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        return self.transform(Image.fromarray(self.images[index].numpy(), mode="L")), int(self.labels[index])


class EpochOrder(Sampler):
    """One permutation per epoch from the run's shuffle generator, exactly as the tensor pipeline draws it."""

    def __init__(self, n: int, generator: torch.Generator):
        self.n, self.generator = n, generator

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        return iter(torch.randperm(self.n, generator=self.generator).tolist())


def assignment_loaders(raw, cap_train: int | None, cap_test: int | None, batch_size: int, workers: int,
                       shuffle: torch.Generator) -> tuple[DataLoader, DataLoader]:
    """(train loader, test loader) over the raw uint8 data, as the 2021 notebook built them."""
    train = AssignmentDataset(raw.train_images[:cap_train], raw.train_labels[:cap_train])
    test = AssignmentDataset(raw.test_images[:cap_test], raw.test_labels[:cap_test])
    return (DataLoader(train, batch_size=batch_size, sampler=EpochOrder(len(train), shuffle), num_workers=workers),
            DataLoader(test, batch_size=batch_size, shuffle=False, num_workers=workers))


def on_device(loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
              device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """A loader's batches as the model takes them: (flattened images, labels), on `device`."""
    for images, labels in loader:
        yield images.to(device).view(images.shape[0], -1), labels.to(device)
